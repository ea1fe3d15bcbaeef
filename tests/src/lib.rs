pub mod aws;
pub mod aws_proxy;
pub mod bins;
pub mod emulator;
pub mod fixtures;
pub mod rie;
pub mod serve;
pub mod stack;
