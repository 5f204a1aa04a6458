//! How the daemon fails, and the exit status (sysexits.h) each failure gives.

use std::io;

use crate::loader::LoadError;
use crate::procs::ProcError;
use crate::reader::ReaderError;
use crate::sink::SinkError;
use crate::sysexits;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    NoProcess(#[from] ProcError),
    #[error("{0}")]
    Load(#[from] LoadError),
    #[error("{0}")]
    Reader(#[from] ReaderError),
    #[error("reading events failed: {0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Sink(#[from] SinkError),
    #[error("cannot serve metrics on --metrics-addr {0}: {1}; choose another address or port")]
    Metrics(String, io::Error),
}

impl AppError {
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::NoProcess(_) => sysexits::NOINPUT,
            AppError::Load(e) => e.exit_code(),
            AppError::Reader(_) => sysexits::SOFTWARE,
            AppError::Io(_) => sysexits::IOERR,
            AppError::Sink(e) => e.exit_code(),
            AppError::Metrics(_, e) if e.kind() == io::ErrorKind::PermissionDenied => {
                sysexits::NOPERM
            }
            AppError::Metrics(..) => sysexits::UNAVAILABLE,
        }
    }
}
