//! Integration tests: the real `siap` binary on real files.

mod harness;

mod config;
mod publish;
mod sample;
