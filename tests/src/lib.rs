pub mod bins;
pub mod aws;
