//! Bytes from a peer into a server's `Connection`, mixed with time, commands and partial writes;
//! see `wsio_fuzz::connection` for what is checked.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsio_proto::Role;

fuzz_target!(|data: &[u8]| wsio_fuzz::connection::run(Role::Server, data));
