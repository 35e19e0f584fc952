//! The keywords of a run's settings (task, cell, init scheme, Adam,
//! device): one enum each, named the same on the command line and in files.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// Which synthetic long-term-dependency task generates the data (see
/// `config::task` for each one's definition and source). Written and read
/// as its command-line name, so a file takes the old names the command
/// line takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Task {
    /// The blog's multiplication problem: values U[0, 1), two markers
    /// anywhere, target their product.
    Multiply,
    /// The blog's sampling with the sum as target (not the papers' adding
    /// problem: see AddHalves and HsAdd). Named `add` until three tasks were
    /// adding problems; that name still reads.
    BlogAdd,
    /// Le et al. 2015 / Arjovsky et al. 2016: one marker in each half,
    /// target the plain sum.
    AddHalves,
    /// Hochreiter & Schmidhuber 1997, experiment 4.
    HsAdd,
    /// Hochreiter & Schmidhuber 1997, experiment 5.
    HsMultiply,
    /// Arjovsky et al. 2016's copying memory problem.
    Copy,
    /// Hochreiter & Schmidhuber 1997, experiment 6a (temporal order).
    Order,
}

/// The recurrent cell of the stack: a keyword only; what each cell is
/// lives in `nn::cells`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cell {
    Rnn,
    Irnn,
    Lstm,
    Gru,
    Indrnn,
    Mingru,
    Minlstm,
    Lru,
}

/// How the initial weights are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitScheme {
    /// Keras defaults: glorot_uniform input kernels, orthogonal recurrent
    /// kernels, zero biases (LSTM forget gate 1), and Keras's single bias
    /// for SimpleRNN and LSTM.
    Keras,
    /// PyTorch defaults: U(-1/sqrt(H), 1/sqrt(H)) everywhere in the stack,
    /// nn.Linear's kaiming_uniform(a=sqrt(5)) head.
    Torch,
}

/// Which Adam trains the run (see `optim`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum AdamKind {
    /// libtorch's (PyTorch's formula).
    #[default]
    Torch,
    /// Keras 3's update_step, step for step.
    Keras,
}

/// What computes a run's recurrence (see `nn::kernel`): libtorch's fused
/// op (one run at a time), the composed batched ops through autograd, or
/// the hand-written backward (Elman RNN and GRU), or the native kernel
/// (each layer's whole sequence in one call of native code, CPU only);
/// `auto` picks per cell, device and pack size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kernel {
    Auto,
    Libtorch,
    Composed,
    Handwritten,
    Native,
}

/// How the optimizer holds the trainable weights: `flat` moves them (and
/// their gradients) into one buffer at the start, so an Adam step is a
/// handful of ops over one tensor; `per-tensor` steps each weight alone,
/// as libtorch's optimizer does. Both give the same numbers bit for bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdamLayout {
    Flat,
    PerTensor,
}

/// Where the run computes. The data and initial weights are always drawn
/// on the CPU, so every device sees the same numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum DeviceSpec {
    /// CUDA when a GPU is visible, else CPU.
    Auto,
    Cpu,
    /// `cuda` (device 0) or `cuda:N`.
    Cuda(usize),
}

/// `From<T> for String` and `TryFrom<String> for T` through `Display` and
/// `FromStr`: what `#[serde(into = "String", try_from = "String")]` needs,
/// so a value is written and read as its command-line text.
macro_rules! serde_as_text {
    ($ty:ty) => {
        impl From<$ty> for String {
            fn from(v: $ty) -> String {
                v.to_string()
            }
        }
        impl TryFrom<String> for $ty {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                s.parse()
            }
        }
    };
}
pub(crate) use serde_as_text;

/// A keyword's name, and the older names it is still read by
/// (`Variant => "name" | "old-name"`): what files written by older versions
/// say, accepted and written back under the name.
macro_rules! keyword_enum {
    ($ty:ident, $what:literal, $($variant:ident => $name:literal $(| $old:literal)*),+) => {
        impl $ty {
            /// The name used on the command line and in files.
            pub fn name(self) -> &'static str {
                match self { $($ty::$variant => $name),+ }
            }

            /// The older names it is still read by.
            pub fn old_names(self) -> &'static [&'static str] {
                match self { $($ty::$variant => &[$($old),*]),+ }
            }

            /// Every value, in order.
            pub fn all() -> &'static [$ty] {
                &[$($ty::$variant),+]
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s.to_ascii_lowercase().as_str() {
                    $($name $(| $old)* => Ok($ty::$variant),)+
                    _ => Err(format!(
                        "unknown {} '{}' (expected one of: {})",
                        $what, s, [$($name),+].join(", ")
                    )),
                }
            }
        }
    };
}

keyword_enum!(Task, "task", Multiply => "multiply", BlogAdd => "blog-add" | "add", AddHalves => "add-halves",
    HsAdd => "hs-add", HsMultiply => "hs-multiply", Copy => "copy", Order => "order");
keyword_enum!(Cell, "model", Rnn => "rnn", Irnn => "irnn", Lstm => "lstm", Gru => "gru",
    Indrnn => "indrnn", Mingru => "mingru", Minlstm => "minlstm", Lru => "lru");
keyword_enum!(InitScheme, "init", Keras => "keras", Torch => "torch");
keyword_enum!(AdamKind, "adam", Torch => "torch", Keras => "keras");
keyword_enum!(AdamLayout, "adam layout", Flat => "flat", PerTensor => "per-tensor");
keyword_enum!(Kernel, "kernel", Auto => "auto", Libtorch => "libtorch", Composed => "composed", Handwritten => "handwritten", Native => "native");

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Auto => f.write_str("auto"),
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl FromStr for DeviceSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let lower = s.to_ascii_lowercase();
        match lower.as_str() {
            "auto" => Ok(DeviceSpec::Auto),
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" => Ok(DeviceSpec::Cuda(0)),
            _ => lower
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceSpec::Cuda)
                .ok_or_else(|| {
                    format!("unknown device '{s}' (expected auto, cpu, cuda or cuda:N)")
                }),
        }
    }
}

serde_as_text!(DeviceSpec);
serde_as_text!(Task);

/// How often a run saves a checkpoint, at an epoch's end: once at least
/// this many seconds (`60s`, `5m`) or epochs (`10`) have passed since the
/// last, or `never` (then only on a stop signal).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum CheckpointEvery {
    Seconds(u64),
    Epochs(u64),
    Never,
}

impl fmt::Display for CheckpointEvery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointEvery::Seconds(s) if s % 60 == 0 && *s > 0 => write!(f, "{}m", s / 60),
            CheckpointEvery::Seconds(s) => write!(f, "{s}s"),
            CheckpointEvery::Epochs(n) => write!(f, "{n}"),
            CheckpointEvery::Never => f.write_str("never"),
        }
    }
}

impl FromStr for CheckpointEvery {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let lower = s.trim().to_ascii_lowercase();
        let bad = || {
            format!(
                "--checkpoint-every '{s}' is not an interval: give epochs (10), seconds (60s), minutes (5m) or never"
            )
        };
        let number = |n: &str| n.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(bad);
        if lower == "never" {
            Ok(CheckpointEvery::Never)
        } else if let Some(n) = lower.strip_suffix('s') {
            Ok(CheckpointEvery::Seconds(number(n)?))
        } else if let Some(n) = lower.strip_suffix('m') {
            Ok(CheckpointEvery::Seconds(
                number(n)?.checked_mul(60).ok_or_else(bad)?,
            ))
        } else {
            Ok(CheckpointEvery::Epochs(number(&lower)?))
        }
    }
}

serde_as_text!(CheckpointEvery);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_parse_and_print() {
        assert_eq!("LSTM".parse::<Cell>().unwrap(), Cell::Lstm);
        assert_eq!("gru".parse::<Cell>().unwrap().to_string(), "gru");
        assert_eq!("torch".parse::<InitScheme>().unwrap(), InitScheme::Torch);
        assert_eq!("blog-add".parse::<Task>().unwrap(), Task::BlogAdd);
        assert_eq!(
            "transformer".parse::<Cell>().unwrap_err(),
            "unknown model 'transformer' (expected one of: rnn, irnn, lstm, gru, indrnn, mingru, minlstm, lru)"
        );
        assert_eq!("cuda".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(0));
        assert_eq!("cuda:3".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(3));
        assert_eq!(
            "cuda:3".parse::<DeviceSpec>().unwrap().to_string(),
            "cuda:3"
        );
        assert!("cuda:x"
            .parse::<DeviceSpec>()
            .unwrap_err()
            .contains("expected auto, cpu, cuda or cuda:N"));
    }

    #[test]
    fn checkpoint_intervals_read_and_print_as_given() {
        for (text, value) in [
            ("60s", CheckpointEvery::Seconds(60)),
            ("5m", CheckpointEvery::Seconds(300)),
            ("10", CheckpointEvery::Epochs(10)),
            ("never", CheckpointEvery::Never),
        ] {
            assert_eq!(text.parse::<CheckpointEvery>().unwrap(), value);
        }
        assert_eq!(CheckpointEvery::Seconds(60).to_string(), "1m");
        assert_eq!(CheckpointEvery::Seconds(90).to_string(), "90s");
        for bad in ["0", "-3", "1h", "s", ""] {
            let err = bad.parse::<CheckpointEvery>().unwrap_err();
            assert!(
                err.ends_with("give epochs (10), seconds (60s), minutes (5m) or never"),
                "{err}"
            );
        }
    }

    /// `add` was blog-add's name: the command line and every file still
    /// take it, and what is written back says blog-add.
    #[test]
    fn the_old_task_name_add_reads_as_blog_add_and_is_written_as_blog_add() {
        assert_eq!("add".parse::<Task>().unwrap(), Task::BlogAdd);
        assert_eq!(Task::BlogAdd.to_string(), "blog-add");
        assert_eq!(Task::BlogAdd.old_names(), ["add"]);
        let read: Vec<Task> = serde_json::from_str(r#"["add", "blog-add", "add-halves"]"#).unwrap();
        assert_eq!(read, [Task::BlogAdd, Task::BlogAdd, Task::AddHalves]);
        assert_eq!(
            serde_json::to_string(&read).unwrap(),
            r#"["blog-add","blog-add","add-halves"]"#
        );
        assert_eq!(
            serde_json::from_str::<Task>(r#""sum""#)
                .unwrap_err()
                .to_string(),
            "unknown task 'sum' (expected one of: multiply, blog-add, add-halves, hs-add, \
             hs-multiply, copy, order)"
        );
    }
}
