//! `blu operator …` (issue 15): manage operator accounts from a shell on the server — how the
//! first operator is created. Each change is audited as `cli:<user>` (the `USER` of the shell).
//!
//! ```text
//! blu operator add <name> --role <viewer|support|risk|admin> [--password-stdin]
//! blu operator code <name>        # a new one-time login code
//! blu operator role <name> <role>
//! blu operator disable <name> | enable <name>
//! blu operator list
//! ```

use std::io::Read;
use std::sync::Arc;

use anyhow::Context;
use blu_app::operators::{Actor, IssuedCode, OperatorService};
use blu_app::ports::Role;
use blu_integrations::limits::MemoryRateLimiter;
use clap::Subcommand;

use crate::config::Config;
use crate::startup::open_database;

#[derive(Subcommand)]
pub enum OperatorCommand {
    /// Adds an operator; prints a one-time code for the first login (24 hours).
    Add {
        name: String,
        /// viewer, support, risk or admin.
        #[arg(long)]
        role: String,
        /// Read the operator's password from standard input instead of issuing a code.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Issues a new one-time login code (older unused codes stop working).
    Code { name: String },
    /// Changes an operator's role.
    Role { name: String, role: String },
    /// Disables an account and ends its sessions.
    Disable { name: String },
    /// Enables a disabled account.
    Enable { name: String },
    /// Lists operators.
    List,
}

fn role(text: &str) -> anyhow::Result<Role> {
    Role::parse(text.trim())
        .with_context(|| format!("unknown role {text:?}: viewer, support, risk or admin"))
}

fn print_code(issued: &IssuedCode) {
    println!(
        "{}",
        serde_json::json!({
            "name": issued.operator.name,
            "role": issued.operator.role.as_str(),
            "oneTimeCode": issued.code,
            "codeExpiresAt": issued.expires_at.to_rfc3339_millis(),
            "login": "open /console and log in with the name and this code, then set a password",
        })
    );
}

pub async fn run(config: &Config, command: OperatorCommand) -> anyhow::Result<()> {
    let database = open_database(config).await?;
    let service = OperatorService::new(Arc::new(database), Arc::new(MemoryRateLimiter::new()));
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
    let actor = Actor::command_line(&user);
    match command {
        OperatorCommand::Add {
            name,
            role: text,
            password_stdin,
        } => {
            let password = if password_stdin {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("reading the password from standard input")?;
                Some(text.trim_end_matches(['\r', '\n']).to_owned())
            } else {
                None
            };
            let with_password = password.is_some();
            let issued = service.add(&actor, &name, role(&text)?, password).await?;
            if with_password {
                println!(
                    "{}",
                    serde_json::json!({ "name": issued.operator.name, "role": issued.operator.role.as_str() })
                );
            } else {
                print_code(&issued);
            }
        }
        OperatorCommand::Code { name } => print_code(&service.issue_code(&actor, &name).await?),
        OperatorCommand::Role { name, role: text } => {
            let o = service
                .update(&actor, &name, Some(role(&text)?), None)
                .await?;
            println!("{}", blu_app::operators::operator_json(&o));
        }
        OperatorCommand::Disable { name } => {
            let o = service.update(&actor, &name, None, Some(true)).await?;
            println!("{}", blu_app::operators::operator_json(&o));
        }
        OperatorCommand::Enable { name } => {
            let o = service.update(&actor, &name, None, Some(false)).await?;
            println!("{}", blu_app::operators::operator_json(&o));
        }
        OperatorCommand::List => {
            for o in service.list().await? {
                println!("{}", blu_app::operators::operator_json(&o));
            }
        }
    }
    Ok(())
}
