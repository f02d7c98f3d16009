//! `slipway login URL`, `slipway context list|use`: the servers this CLI
//! knows, in `~/.config/slipway/config.yaml` (0600), each with its URL, a
//! token file of its own (`~/.config/slipway/tokens/NAME`, 0600) and an
//! optional CA file; `current` is the one commands use unless `--context`
//! or `SLIPWAY_CONTEXT` names another.

use crate::client::{Client, ClientError, ClientFile, Context, Endpoint, user_config_path};
use crate::{CliError, Output, print_json};
use clap::Subcommand;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum ContextCommand {
    /// The servers you logged in to; `*` marks the one in use
    List {
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Use another server from now on
    Use { name: String },
}

fn config_path() -> Result<PathBuf, CliError> {
    user_config_path().ok_or_else(|| {
        CliError::Usage("neither XDG_CONFIG_HOME nor HOME is set: nowhere to keep the login".into())
    })
}

fn load(path: &Path) -> Result<ClientFile, CliError> {
    match std::fs::read_to_string(path) {
        Ok(t) => serde_saphyr::from_str(&t).map_err(|e| {
            CliError::Usage(format!(
                "{} is invalid: {e}; fix or remove it",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ClientFile::default()),
        Err(e) => Err(CliError::Usage(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// Write `text` to `path`, readable by its owner only.
fn write_private(path: &Path, text: &str) -> Result<(), CliError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::Usage(format!("cannot make {}: {e}", dir.display())))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", path.display())))
}

fn save(path: &Path, file: &ClientFile) -> Result<(), CliError> {
    let text = serde_saphyr::to_string(file)
        .map_err(|e| CliError::Usage(format!("cannot write the CLI config: {e}")))?;
    write_private(
        path,
        &format!("# written by `slipway login`; `slipway context` reads and switches it\n{text}"),
    )
}

/// A context name from a URL: its host, made file-name safe.
fn name_of(url: &str) -> String {
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .split('/')
        .next()
        .unwrap_or("server");
    host.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// `slipway login URL`: check the token against the server, then keep
/// it (its own 0600 file) and make the server the one in use.
pub async fn login(
    url: &str,
    name: Option<String>,
    token_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
) -> Result<(), CliError> {
    let url = url.trim_end_matches('/').to_string();
    let name = name.unwrap_or_else(|| name_of(&url));
    if name.is_empty() || name.starts_with('.') || name.contains('/') {
        return Err(CliError::Usage(format!("{name:?} is not a context name")));
    }
    let token = match &token_file {
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", p.display())))?,
        None => {
            eprint!("API token for {url} (from `slipway token create`): ");
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| CliError::Usage(format!("cannot read the token: {e}")))?;
            line
        }
    };
    let token = token.trim().to_string();
    if token.is_empty() {
        return Err(CliError::Usage(
            "no token given: pass --token-file FILE, or type it".into(),
        ));
    }
    let ca_file = ca_file.map(|p| std::fs::canonicalize(&p).unwrap_or(p));
    let client = Client::new(Endpoint {
        url: url.clone(),
        token: token.clone(),
        ca_file: ca_file.clone(),
    })?;
    // Any token may list its projects: this proves URL, TLS and token.
    let projects: Vec<serde_json::Value> =
        client.get_json("/projects").await.map_err(|e| match e {
            ClientError::Unauthorized(m) => CliError::Usage(format!(
                "{url} refused the token: {m}; check it with whoever made it"
            )),
            e => e.into(),
        })?;
    let path = config_path()?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let token_path = dir.join("tokens").join(&name);
    write_private(&token_path, &format!("{token}\n"))?;
    let mut file = load(&path)?;
    file.contexts.insert(
        name.clone(),
        Context {
            url: url.clone(),
            token_file: token_path,
            ca_file,
        },
    );
    file.current = Some(name.clone());
    save(&path, &file)?;
    println!(
        "logged in to {url} as context {name} ({} projects visible); it is in use now",
        projects.len()
    );
    Ok(())
}

pub fn run(cmd: ContextCommand) -> Result<(), CliError> {
    let path = config_path()?;
    let mut file = load(&path)?;
    match cmd {
        ContextCommand::List { output } => {
            match output {
                Output::Json => print_json(&serde_json::json!({
                    "current": file.current,
                    "contexts": file.contexts.iter().map(|(n, c)| serde_json::json!({
                        "name": n, "url": c.url, "ca_file": c.ca_file,
                    })).collect::<Vec<_>>(),
                })),
                Output::Table => {
                    if file.contexts.is_empty() {
                        println!("no contexts; `slipway login URL` adds one");
                    }
                    for (n, c) in &file.contexts {
                        let mark = if file.current.as_deref() == Some(n) {
                            "*"
                        } else {
                            " "
                        };
                        println!("{mark} {n:<24} {}", c.url);
                    }
                }
            }
            Ok(())
        }
        ContextCommand::Use { name } => {
            if !file.contexts.contains_key(&name) {
                return Err(CliError::Usage(format!(
                    "no context named {name}: `slipway context list` shows them, `slipway login URL --name {name}` makes it"
                )));
            }
            file.current = Some(name.clone());
            save(&path, &file)?;
            println!("using context {name}");
            Ok(())
        }
    }
}
