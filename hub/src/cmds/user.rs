//! `hub user add|remove|list`: manage the people who may log in.

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
    /// Remove a user and end their sessions.
    Remove { name: String },
    /// List users.
    List,
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
            let (password, generated) = if password_stdin {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                let p = line.trim_end_matches(['\r', '\n']).to_owned();
                if p.len() < 8 {
                    bail!("password: must be at least 8 characters");
                }
                (p, false)
            } else {
                (crate::auth::random_hex(10), true)
            };
            let token = crate::auth::set_user(&db, &name, &password)?;
            println!("user      {name}");
            if generated {
                println!("password  {password}");
            }
            println!("api token {token}  (for the /video-output-stream viewer; shown once)");
        }
        UserCmd::Remove { name } => {
            if !db.call_blocking(|c| db::delete_user(c, &name))? {
                bail!("no user named {name:?}");
            }
            println!("removed {name}");
        }
        UserCmd::List => {
            for n in db.call_blocking(|c| db::list_users(c))? {
                println!("{n}");
            }
        }
    }
    Ok(())
}
