//! The module's scheduler. Lua coroutines (server handlers, `wsio.spawn`) run as tasks, and
//! only inside calls the Lua program makes: `wsio.poll`, `wsio.run`, or a blocking call made
//! outside them (which runs the ready tasks while it waits).
//! Nothing calls into Lua from another thread: the connections' I/O is driven by a background
//! tokio runtime ([`crate::runtime`]), whose wake-ups only queue tasks and make a file
//! descriptor readable ([`Executor::fd`]), for programs that wait in a loop of their own.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use mlua::{Function, Lua, MultiValue};

use crate::runtime;

/// A task: a future polled on the Lua thread.
type LocalFuture = Pin<Box<dyn Future<Output = ()>>>;

/// The scheduler of one Lua state, kept in its app data.
pub(crate) struct Executor {
    shared: Arc<Shared>,
    tasks: RefCell<HashMap<u64, Slot>>,
    next_id: Cell<u64>,
    /// The Lua threads that are tasks: inside them, the module's methods yield instead of
    /// blocking.
    threads: RefCell<HashSet<usize>>,
    /// Whether tasks are being run now (by `poll`, `run` or a blocking call): `poll` and
    /// `run` may not be called from them.
    polling: Cell<bool>,
    reader: UnixStream,
}

/// A task and its waker; the future is out of its slot while it is being polled.
struct Slot {
    future: Option<LocalFuture>,
    waker: Arc<TaskWaker>,
}

/// What wakers, on any thread, share with the scheduler: the ready queue and the signal.
struct Shared {
    ready: Mutex<VecDeque<u64>>,
    writer: UnixStream,
}

impl Shared {
    /// Makes the scheduler's file descriptor readable. A full pipe is readable already.
    fn signal(&self) {
        let _ = (&self.writer).write(&[1]);
    }

    fn ready(&self) -> MutexGuard<'_, VecDeque<u64>> {
        self.ready.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Queues its task once per wake-up.
struct TaskWaker {
    id: u64,
    queued: AtomicBool,
    shared: Arc<Shared>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.shared.ready().push_back(self.id);
            self.shared.signal();
        }
    }
}

/// The waker of a blocking call: it sets its flag and signals.
struct BlockWaker {
    woken: AtomicBool,
    shared: Arc<Shared>,
}

impl Wake for BlockWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.shared.signal();
    }
}

impl Executor {
    /// A scheduler with no tasks.
    pub(crate) fn new() -> std::io::Result<Self> {
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        Ok(Executor {
            shared: Arc::new(Shared {
                ready: Mutex::new(VecDeque::new()),
                writer,
            }),
            tasks: RefCell::new(HashMap::new()),
            next_id: Cell::new(0),
            threads: RefCell::new(HashSet::new()),
            polling: Cell::new(false),
            reader,
        })
    }

    /// The scheduler of `lua`'s state.
    pub(crate) fn of(lua: &Lua) -> mlua::Result<mlua::AppDataRef<'_, Executor>> {
        lua.app_data_ref::<Executor>()
            .ok_or_else(|| mlua::Error::runtime("wsio: the module is not loaded in this state"))
    }

    /// A file descriptor that is readable while tasks are ready to run.
    pub(crate) fn fd(&self) -> RawFd {
        self.reader.as_raw_fd()
    }

    /// How many tasks there are, running or waiting.
    pub(crate) fn task_count(&self) -> usize {
        self.tasks.borrow().len()
    }

    /// Whether the code running now is a task's coroutine, where methods yield.
    pub(crate) fn in_task(&self, lua: &Lua) -> bool {
        let current = lua.current_thread().to_pointer() as usize;
        self.threads.borrow().contains(&current)
    }

    /// Adds a task; it runs at the next `poll`.
    pub(crate) fn spawn(&self, future: LocalFuture) {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let waker = Arc::new(TaskWaker {
            id,
            queued: AtomicBool::new(false),
            shared: self.shared.clone(),
        });
        self.tasks.borrow_mut().insert(
            id,
            Slot {
                future: Some(future),
                waker: waker.clone(),
            },
        );
        waker.wake_by_ref();
    }

    /// Runs `function(args...)` as a task, in a coroutine of its own; what it returns, or the
    /// error it raises, is given to `finished`.
    pub(crate) fn spawn_lua(
        &self,
        lua: &Lua,
        function: Function,
        args: MultiValue,
        finished: impl FnOnce(&Lua, mlua::Result<MultiValue>) + 'static,
    ) -> mlua::Result<()> {
        let thread = lua.create_thread(function)?;
        let key = thread.to_pointer() as usize;
        let running = thread.into_async::<MultiValue>(args)?;
        self.threads.borrow_mut().insert(key);
        let weak = lua.weak();
        self.spawn(Box::pin(async move {
            let result = running.await;
            let Some(lua) = weak.try_upgrade() else {
                return;
            };
            if let Ok(executor) = Executor::of(&lua) {
                executor.threads.borrow_mut().remove(&key);
            }
            finished(&lua, result);
        }));
        Ok(())
    }

    /// Runs the tasks that are ready, waiting up to `timeout` (`None`: as long as it takes)
    /// for one to be; how many ran.
    pub(crate) fn poll(&self, timeout: Option<Duration>) -> mlua::Result<usize> {
        if self.polling.get() {
            return Err(mlua::Error::runtime(
                "wsio.poll and wsio.run cannot be called from a wsio task or callback",
            ));
        }
        let _runtime = runtime::handle().enter();
        // A timeout too long to add to now is no timeout.
        let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
        let ran = loop {
            self.drain_signal();
            // A wake-up may come for a task that has finished since (its waker outlived it
            // in a timer or a socket): that is no work.
            let ran = self.run_ready();
            if ran > 0 {
                break ran;
            }
            let wait = match deadline {
                None => None,
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => break 0,
                },
            };
            self.wait(wait);
        };
        self.signal_if_ready();
        Ok(ran)
    }

    /// Whether tasks are being run now: code running now is inside `poll` or `run`.
    pub(crate) fn polling(&self) -> bool {
        self.polling.get()
    }

    /// Polls until no task is left.
    pub(crate) fn run(&self) -> mlua::Result<()> {
        while self.task_count() > 0 {
            self.poll(None)?;
        }
        Ok(())
    }

    /// Runs `future` to its end on this thread, now. Made from plain Lua code, it runs the
    /// tasks that are ready while it waits (a task may hold what `future` needs); made from
    /// inside `poll` (a callback), it cannot, and only waits.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _runtime = runtime::handle().enter();
        let waker = Arc::new(BlockWaker {
            woken: AtomicBool::new(false),
            shared: self.shared.clone(),
        });
        let task_waker = Waker::from(waker.clone());
        let mut context = Context::from_waker(&task_waker);
        let mut future = pin!(future);
        let runs_tasks = !self.polling.get();
        let output = loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
                break output;
            }
            loop {
                if runs_tasks {
                    self.run_ready();
                }
                if waker.woken.swap(false, Ordering::AcqRel) {
                    break;
                }
                if runs_tasks && !self.shared.ready().is_empty() {
                    continue;
                }
                self.wait(None);
                self.drain_signal();
            }
        };
        self.signal_if_ready();
        output
    }

    /// Runs the tasks that are ready, each once: how many ran.
    fn run_ready(&self) -> usize {
        let ready: Vec<u64> = self.shared.ready().drain(..).collect();
        if ready.is_empty() {
            return 0;
        }
        self.polling.set(true);
        // Reset however the tasks end, a panic included.
        let _polling = Reset(&self.polling);
        ready.iter().filter(|id| self.run_task(**id)).count()
    }

    /// Polls task `id` once, if it is there and not being polled already: whether it was. A
    /// task that panics is reported and removed; the others go on.
    fn run_task(&self, id: u64) -> bool {
        let taken = {
            let mut tasks = self.tasks.borrow_mut();
            tasks
                .get_mut(&id)
                .and_then(|slot| Some((slot.future.take()?, slot.waker.clone())))
        };
        let Some((mut future, waker)) = taken else {
            return false;
        };
        waker.queued.store(false, Ordering::Release);
        let waker = Waker::from(waker);
        let polled = catch_unwind(AssertUnwindSafe(|| {
            future.as_mut().poll(&mut Context::from_waker(&waker))
        }));
        match polled {
            Ok(Poll::Pending) => {
                if let Some(slot) = self.tasks.borrow_mut().get_mut(&id) {
                    slot.future = Some(future);
                }
            }
            Ok(Poll::Ready(())) => {
                let slot = self.tasks.borrow_mut().remove(&id);
                // Dropped outside the borrow: dropping a coroutine's future may run Lua code.
                drop(slot);
                drop(future);
            }
            Err(panic) => {
                let slot = self.tasks.borrow_mut().remove(&id);
                drop(slot);
                let _ = catch_unwind(AssertUnwindSafe(move || drop(future)));
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|text| (*text).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_owned());
                eprintln!("wsio: a task failed and was stopped: {message}");
            }
        }
        true
    }

    /// Waits until the file descriptor is readable, at most `timeout`.
    fn wait(&self, timeout: Option<Duration>) {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let timespec = timeout.map(|timeout| Timespec {
            tv_sec: timeout.as_secs().try_into().unwrap_or(i64::MAX),
            tv_nsec: timeout.subsec_nanos().into(),
        });
        let mut fds = [PollFd::new(&self.reader, PollFlags::IN)];
        // Interrupted or failed: the caller looks again.
        let _ = poll(&mut fds, timespec.as_ref());
    }

    /// Empties the pipe behind the file descriptor.
    fn drain_signal(&self) {
        let mut buf = [0u8; 64];
        while matches!((&self.reader).read(&mut buf), Ok(n) if n > 0) {}
    }

    /// Keeps the file descriptor readable while tasks are ready (a blocking call may have
    /// drained it).
    fn signal_if_ready(&self) {
        if !self.shared.ready().is_empty() {
            self.shared.signal();
        }
    }
}

/// Sets a flag back to `false` when dropped.
struct Reset<'a>(&'a Cell<bool>);

impl Drop for Reset<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}
