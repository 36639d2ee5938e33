use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong in the vision core, worded for the user who has to fix it.
#[derive(Debug)]
pub enum VisionError {
    /// A file we need (model, runtime library, labels) is not where we looked.
    MissingFile { what: &'static str, path: PathBuf, hint: String },
    /// ONNX Runtime refused to load or run something.
    Runtime(String),
    /// The model loads but is not one we can use (shapes, types, metadata).
    Model(String),
    /// A frame whose geometry does not match its planes.
    Frame(String),
    /// A user setting that cannot be honoured.
    Config(String),
}

impl fmt::Display for VisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VisionError::MissingFile { what, path, hint } => {
                write!(f, "{what} not found at {}: {hint}", path.display())
            }
            VisionError::Runtime(m) => write!(f, "ONNX Runtime: {m}"),
            VisionError::Model(m) => write!(f, "unsupported model: {m}"),
            VisionError::Frame(m) => write!(f, "bad frame: {m}"),
            VisionError::Config(m) => write!(f, "bad setting: {m}"),
        }
    }
}

impl std::error::Error for VisionError {}

impl<R> From<ort::Error<R>> for VisionError {
    fn from(e: ort::Error<R>) -> Self {
        VisionError::Runtime(e.to_string())
    }
}
