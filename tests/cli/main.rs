//! Integration tests: the real `siap` binary on real files.

mod harness;

mod api;
mod bucket;
mod config;
mod deploy;
mod dialects;
mod distributed;
mod formats;
mod generate;
mod hostile;
mod http;
mod locations;
mod messages;
mod on_store;
mod operations;
mod provision;
mod publish;
mod remote;
mod sample;
mod scheduling;
mod server;
mod sftp;
mod sniff;
mod spreadsheet;
mod sql_rules;
mod threads;
