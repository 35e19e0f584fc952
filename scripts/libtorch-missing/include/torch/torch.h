// Found only when libtorch is not: .cargo/config.toml puts this folder on
// CPLUS_INCLUDE_PATH, which the compiler searches after torch-sys's
// -I $LIBTORCH/include. Without it a missing libtorch shows up as
// "torch/torch.h: No such file or directory" deep in torch-sys's build.
#error "rnn-lab: no libtorch at LIBTORCH (by default .libtorch, which scripts/setup.sh links): run scripts/setup.sh, or set LIBTORCH to a libtorch 2.11.0"
