//! `hub user add|passwd|remove|list`: manage the people who may log in. A new
//! password or a removal ends the user's sessions and API token at once, also in a
//! hub that is running on the same database (see [`crate::db::upsert_user`]).

use std::io::BufRead;
use std::path::Path;

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::config::valid_name;
use crate::db::{self, Db};
use crate::server;

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Add a user, or reset an existing user's password and API token.
    Add {
        name: String,
        /// Read the password from the first line of standard input instead of
        /// generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change an existing user's password; ends their sessions and replaces their
    /// API token.
    Passwd {
        name: String,
        /// Read the password from the first line of standard input instead of
        /// generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove a user and end their sessions.
    Remove { name: String },
    /// List users: name, when added, sessions open.
    List,
}

/// The password to set: the first line of standard input, or a generated one.
fn new_password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let p = line.trim_end_matches(['\r', '\n']).to_owned();
        if p.len() < 8 {
            bail!("password: must be at least 8 characters");
        }
        Ok((p, false))
    } else {
        Ok((crate::auth::random_hex(10), true))
    }
}

/// Sets `name`'s password and prints what the person needs.
#[allow(clippy::print_stdout)]
fn set_and_print(db: &Db, name: &str, password_stdin: bool) -> anyhow::Result<()> {
    let (password, generated) = new_password(password_stdin)?;
    let token = crate::auth::set_user(db, name, &password)?;
    println!("user      {name}");
    if generated {
        println!("password  {password}");
    }
    println!("api token {token}  (for the /video-output-stream viewer; shown once)");
    Ok(())
}

pub fn run(config: Option<&Path>, cmd: UserCmd) -> anyhow::Result<()> {
    let cfg = super::load_config_or_demo(config)?;
    server::ensure_data_dir(&cfg)?;
    let db = Db::open(&server::db_path(&cfg)).context("opening the database")?;
    #[allow(clippy::print_stdout)]
    match cmd {
        UserCmd::Add {
            name,
            password_stdin,
        } => {
            if !valid_name(&name) {
                bail!("user name {name:?} must be 1-64 letters, digits, '-' or '_'");
            }
            set_and_print(&db, &name, password_stdin)?;
        }
        UserCmd::Passwd {
            name,
            password_stdin,
        } => {
            let n = name.clone();
            if db.call_blocking(|c| db::user_by_name(c, &n))?.is_none() {
                bail!("no user named {name:?} (add one with `hub user add`)");
            }
            set_and_print(&db, &name, password_stdin)?;
            println!("their sessions are ended and their old API token no longer works");
        }
        UserCmd::Remove { name } => {
            if !db.call_blocking(|c| db::delete_user(c, &name))? {
                bail!("no user named {name:?}");
            }
            println!("removed {name}");
        }
        UserCmd::List => {
            let now = crate::camera::unix_ms(std::time::SystemTime::now());
            let users = db.call_blocking(|c| db::list_users(c, now))?;
            if users.is_empty() {
                println!("no users (add one with `hub user add NAME`)");
            }
            for u in users {
                let added = jiff::Timestamp::from_millisecond(u.created_ms)
                    .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
                    .unwrap_or_default();
                println!("{:<24} added {added}  sessions {}", u.name, u.sessions);
            }
        }
    }
    Ok(())
}
