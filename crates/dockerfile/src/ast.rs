//! The parsed Dockerfile: directives, then instructions, every node with
//! the lines it came from.

/// A line and column, both 1-based; columns count characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dockerfile {
    /// Parser directives at the top (`# syntax=…`, `# escape=…`, `# check=…`).
    pub directives: Vec<Directive>,
    /// The escape character in effect (`\` unless the `escape` directive
    /// says `` ` ``).
    pub escape: char,
    pub instructions: Vec<Instruction>,
    /// Every comment line, with its line (pragmas such as
    /// `# hadolint ignore=DL3008` live here).
    pub comments: Vec<Comment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// Lower-cased name.
    pub name: String,
    pub value: String,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// The text after `#`, trimmed.
    pub text: String,
    pub line: usize,
}

/// One instruction, continuation lines joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// Upper-cased keyword (`RUN`).
    pub keyword: String,
    /// `--name[=value]` flags before the arguments, in order.
    pub flags: Vec<Flag>,
    pub args: Args,
    /// Heredoc bodies (`RUN <<EOF`, `COPY <<EOF /dest`), in order.
    pub heredocs: Vec<Heredoc>,
    /// Where the keyword is.
    pub start: Pos,
    /// The last line of the instruction (continuations and heredocs included).
    pub end_line: usize,
    /// The arguments as written (continuations joined), after the flags.
    pub raw: String,
}

impl Instruction {
    /// The value of flag `name` (`--from=build` → `Some("build")`), the last
    /// one if given twice.
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|f| f.name == name)
            .map(|f| f.value.as_deref().unwrap_or(""))
    }

    pub fn has_flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub name: String,
    /// `None` for a bare `--link`.
    pub value: Option<String>,
    /// The value as written, quotes kept.
    pub written: Option<String>,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub delimiter: String,
    /// `<<-EOF`: leading tabs are stripped from the body lines.
    pub strip_tabs: bool,
    /// `<<"EOF"` or `<<'EOF'`: no variable expansion in the body.
    pub quoted: bool,
    /// The body, lines joined with `\n`, with a final `\n`.
    pub body: String,
    /// The line of the `<<` marker.
    pub line: usize,
}

/// The arguments of an instruction, in the form the instruction takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Args {
    /// `RUN`, `CMD`, `ENTRYPOINT`, `SHELL`, `HEALTHCHECK CMD` in shell form.
    Shell(String),
    /// The same in JSON (exec) form: `["a", "b"]`.
    Exec(Vec<String>),
    /// `FROM [--platform=…] image [AS name]`.
    From {
        image: String,
        alias: Option<String>,
    },
    /// `COPY`/`ADD`: sources and destination; `json` when written as a JSON array.
    Copy {
        sources: Vec<String>,
        dest: String,
        json: bool,
    },
    /// `ENV`, `LABEL`: key/value pairs, quotes removed.
    Pairs(Vec<(String, String)>),
    /// `ARG name[=default]…`.
    Arg(Vec<(String, Option<String>)>),
    /// `HEALTHCHECK NONE`, or `HEALTHCHECK [flags] CMD …`.
    Healthcheck(Option<Box<Args>>),
    /// `ONBUILD INSTRUCTION …`.
    Onbuild(Box<Instruction>),
    /// `EXPOSE`, `VOLUME` (words or JSON), `USER`, `WORKDIR`, `STOPSIGNAL`,
    /// `MAINTAINER`: the words as written.
    Words(Vec<String>),
}
