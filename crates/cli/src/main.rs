//! `kuzet`: one binary for the embedded default (one process, SQLite, local
//! files). Subcommands live in `cmds/`, one file each.

mod cmds;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "kuzet",
    version,
    about = "City-scale CCTV analytics: detect, track, rules, events."
)]
struct Cli {
    /// Log filter (tracing syntax), e.g. `info`, `kuzet_media=debug`.
    #[arg(long, global = true, env = "KUZET_LOG", default_value = "warn")]
    log: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the pipeline on a video file, image, folder or RTSP URL and print its events.
    Analyze(cmds::analyze::Args),
    /// Run the configured cameras and serve the HTTP API.
    Serve(cmds::serve::Args),
    /// Run the cameras leased from the bus and publish their results (distributed mode).
    Worker(cmds::worker::Args),
    /// Publish synthetic camera traffic through a real bus and the central
    /// ingest, and report their throughput, lag and latency.
    Simulate(cmds::simulate::Args),
    /// Check the pretrained models against the manifest.
    Models {
        #[command(subcommand)]
        cmd: cmds::models::Cmd,
    },
    /// Query stored events.
    Events(cmds::events::Args),
    /// Measure per-stage speed and compare against baselines measured in the same run.
    Bench(cmds::bench::Args),
    /// Face watchlists: enrol, list, remove.
    Watchlist {
        #[command(subcommand)]
        cmd: cmds::faces::WatchlistCmd,
    },
    /// Find the faces of a photo on the watchlists.
    Identify(cmds::faces::IdentifyArgs),
    /// Train a head on a labelled data set.
    Train {
        #[command(subcommand)]
        cmd: TrainCmd,
    },
    /// Measure accuracy on a labelled data set.
    Eval {
        #[command(subcommand)]
        cmd: EvalCmd,
    },
    /// Search stored sightings (faces by photo) and plate reads (by pattern).
    Search {
        #[command(subcommand)]
        cmd: SearchCmd,
    },
    /// Lost-child mode: watch chosen cameras for a photo and search their recent sightings.
    Lost(cmds::faces::LostArgs),
    /// Read the licence plates in an image.
    Plate(cmds::plates::PlateArgs),
    /// Plate hotlists: add, import, list, remove.
    Hotlist {
        #[command(subcommand)]
        cmd: cmds::plates::HotlistCmd,
    },
    /// Users of the API and web app: add, list, remove, change password.
    User {
        #[command(subcommand)]
        cmd: cmds::security::UserCmd,
    },
    /// API tokens for machines: create, list, revoke.
    Token {
        #[command(subcommand)]
        cmd: cmds::security::TokenCmd,
    },
    /// The hash-chained audit log: verify it, export its head.
    Audit {
        #[command(subcommand)]
        cmd: cmds::security::AuditCmd,
    },
    /// Retention: delete what is past its `[retention]` now (or --dry-run).
    Retention {
        #[command(subcommand)]
        cmd: cmds::retention::RetentionCmd,
    },
    /// Legal authorisations for face identification: add, approve, list, revoke.
    Authorisation {
        #[command(subcommand)]
        cmd: cmds::authorisation::AuthorisationCmd,
    },
    /// The evidence encryption key: rotate.
    Keys {
        #[command(subcommand)]
        cmd: cmds::keys::KeysCmd,
    },
}

/// `search` subcommands, one enum per feature, flattened.
#[derive(Subcommand)]
enum SearchCmd {
    #[command(flatten)]
    Faces(cmds::faces::SearchCmd),
    #[command(flatten)]
    Plates(cmds::plates::SearchCmd),
}

/// `eval` subcommands, one enum per feature, flattened.
#[derive(Subcommand)]
enum EvalCmd {
    #[command(flatten)]
    Faces(cmds::faces::EvalCmd),
    #[command(flatten)]
    Plates(cmds::plates::EvalCmd),
    #[command(flatten)]
    Fire(cmds::fire::EvalCmd),
    #[command(flatten)]
    Crowd(cmds::crowd::EvalCmd),
}

/// `train` subcommands, one enum per feature, flattened.
#[derive(Subcommand)]
enum TrainCmd {
    #[command(flatten)]
    Fire(cmds::fire::TrainCmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let r = match cli.cmd {
        Cmd::Analyze(a) => cmds::analyze::run(a),
        Cmd::Serve(a) => cmds::serve::run(a),
        Cmd::Worker(a) => cmds::worker::run(a),
        Cmd::Simulate(a) => cmds::simulate::run(a),
        Cmd::Models { cmd } => cmds::models::run(cmd),
        Cmd::Events(a) => cmds::events::run(a),
        Cmd::Bench(a) => cmds::bench::run(a),
        Cmd::Watchlist { cmd } => cmds::faces::run_watchlist(cmd),
        Cmd::Identify(a) => cmds::faces::run_identify(a),
        Cmd::Eval { cmd } => match cmd {
            EvalCmd::Faces(c) => cmds::faces::run_eval(c),
            EvalCmd::Plates(c) => cmds::plates::run_eval(c),
            EvalCmd::Fire(c) => cmds::fire::run_eval(c),
            EvalCmd::Crowd(c) => cmds::crowd::run_eval(c),
        },
        Cmd::Train { cmd } => match cmd {
            TrainCmd::Fire(c) => cmds::fire::run_train(c),
        },
        Cmd::Plate(a) => cmds::plates::run_plate(a),
        Cmd::Search { cmd } => match cmd {
            SearchCmd::Faces(c) => cmds::faces::run_search(c),
            SearchCmd::Plates(c) => cmds::plates::run_search(c),
        },
        Cmd::Hotlist { cmd } => cmds::plates::run_hotlist(cmd),
        Cmd::Lost(a) => cmds::faces::run_lost(a),
        Cmd::User { cmd } => cmds::security::run_user(cmd),
        Cmd::Token { cmd } => cmds::security::run_token(cmd),
        Cmd::Audit { cmd } => cmds::security::run_audit(cmd),
        Cmd::Authorisation { cmd } => cmds::authorisation::run(cmd),
        Cmd::Retention { cmd } => cmds::retention::run(cmd),
        Cmd::Keys { cmd } => cmds::keys::run(cmd),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
