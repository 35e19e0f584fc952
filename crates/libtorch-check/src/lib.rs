//! Empty: this crate exists for its build script, which checks the
//! libtorch that torch-sys will link before torch-sys's own build starts.
