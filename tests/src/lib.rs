pub mod aws;
pub mod bins;
pub mod emulator;
