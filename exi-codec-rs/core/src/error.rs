//! The codec error: where in the stream it happened and what was expected.

use std::fmt;

/// Details of an [`Error`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorData {
    /// Bit position in the EXI stream (for encoding: bits written so far).
    pub bit: usize,
    /// What went wrong.
    pub message: String,
    /// What was expected at that point (grammar context, element or facet).
    pub expected: String,
}

/// A decoding or encoding error (boxed, so that results stay small on the hot path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(Box<ErrorData>);

impl Error {
    /// A new error.
    #[cold]
    pub fn new(bit: usize, message: impl Into<String>, expected: impl Into<String>) -> Self {
        Error(Box::new(ErrorData {
            bit,
            message: message.into(),
            expected: expected.into(),
        }))
    }

    /// Bit position in the EXI stream (for encoding: bits written so far).
    pub fn bit(&self) -> usize {
        self.0.bit
    }

    /// What went wrong.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// What was expected at that point.
    pub fn expected(&self) -> &str {
        &self.0.expected
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at bit {}: {}", self.0.bit, self.0.message)?;
        if !self.0.expected.is_empty() {
            write!(f, " (expected {})", self.0.expected)?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}
