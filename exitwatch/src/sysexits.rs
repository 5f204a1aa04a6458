//! Exit statuses from sysexits.h, the convention exitwatch follows.

pub const OK: u8 = 0;
pub const USAGE: u8 = 64;
pub const NOINPUT: u8 = 66;
pub const UNAVAILABLE: u8 = 69;
pub const SOFTWARE: u8 = 70;
pub const OSERR: u8 = 71;
pub const CANTCREAT: u8 = 73;
pub const IOERR: u8 = 74;
pub const NOPERM: u8 = 77;
