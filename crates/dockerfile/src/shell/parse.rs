//! The bash parser (`shuck-parser`) turned into [`Command`]s: the only file
//! that sees its syntax tree, so a change of parser stays here.

use super::Command;
use shuck_ast::{
    AssignmentValue, BinaryOp, Command as Node, CommandSubstitutionSyntax, CompoundCommand,
    DeclOperand, RedirectTarget, Stmt, StmtSeq, Word, WordPart, WordPartNode,
};
use shuck_parser::ShellDialect;
use shuck_parser::parser::{ParseStatus, Parser};

/// Words that run the command after them (`command apt-get …`).
const WRAPPERS: [&str; 5] = ["busybox", "builtin", "command", "exec", "run"];

/// The simple commands of `script` and whether it has a pipe; `None` when
/// it does not parse cleanly.
pub(super) fn commands(script: &str) -> Option<(Vec<Command>, bool)> {
    // shuck-parser 0.2.8 can slice inside a multi-byte character (a
    // backquoted substitution after a continuation, found by the
    // never-panics property test): it gets the script with every non-ASCII
    // character as `?`s of the same byte length, so every offset it
    // computes is a character boundary and the words keep their positions.
    let ascii = ascii_only(script);
    // And should it panic all the same, the script counts as unparsable.
    std::panic::catch_unwind(|| {
        let parsed = Parser::with_dialect(&ascii, ShellDialect::Bash).parse();
        if parsed.status != ParseStatus::Clean {
            return None;
        }
        let mut walk = Walk {
            src: &ascii,
            out: Vec::new(),
            pipe: false,
        };
        walk.seq(&parsed.file.body);
        Some((walk.out, walk.pipe))
    })
    .ok()
    .flatten()
}

/// `script` with each non-ASCII character replaced by as many `?` as it
/// has bytes.
fn ascii_only(script: &str) -> String {
    let mut out = String::with_capacity(script.len());
    for c in script.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            out.extend(std::iter::repeat_n('?', c.len_utf8()));
        }
    }
    out
}

struct Walk<'a> {
    src: &'a str,
    out: Vec<Command>,
    pipe: bool,
}

impl Walk<'_> {
    fn seq(&mut self, seq: &StmtSeq) {
        for stmt in &seq.stmts {
            self.stmt(stmt);
        }
    }

    fn stmt(&mut self, stmt: &Stmt) {
        match &stmt.command {
            Node::Simple(c) => {
                if let Some(first) = literal(self.src, &c.name) {
                    let mut args: Vec<String> = c.args.iter().map(|w| self.render(w)).collect();
                    let name = unwrap_name(first, &args);
                    args.shrink_to_fit();
                    self.out.push(Command::new(name, args));
                }
                for a in c.assignments.iter() {
                    if let AssignmentValue::Scalar(v) = &a.value {
                        self.nested(v);
                    }
                }
                self.nested(&c.name);
                for w in &c.args {
                    self.nested(w);
                }
            }
            Node::Decl(d) => {
                let args = d
                    .operands
                    .iter()
                    .map(|o| match o {
                        DeclOperand::Flag(w) | DeclOperand::Dynamic(w) => self.render(w),
                        DeclOperand::Name(v) => v.span.slice(self.src).to_string(),
                        DeclOperand::Assignment(a) => {
                            let name = a.target.span.slice(self.src);
                            match &a.value {
                                AssignmentValue::Scalar(v) => format!("{name}={}", self.render(v)),
                                AssignmentValue::Compound(_) => a.span.slice(self.src).to_string(),
                            }
                        }
                    })
                    .collect();
                self.out
                    .push(Command::new(d.variant.as_str().to_string(), args));
                for o in &d.operands {
                    match o {
                        DeclOperand::Flag(w) | DeclOperand::Dynamic(w) => self.nested(w),
                        DeclOperand::Assignment(a) => {
                            if let AssignmentValue::Scalar(v) = &a.value {
                                self.nested(v);
                            }
                        }
                        DeclOperand::Name(_) => {}
                    }
                }
            }
            Node::Binary(b) => {
                if matches!(b.op, BinaryOp::Pipe | BinaryOp::PipeAll) {
                    self.pipe = true;
                }
                self.stmt(&b.left);
                self.stmt(&b.right);
            }
            Node::Compound(c) => self.compound(c),
            Node::Function(f) => self.stmt(&f.body),
            Node::Builtin(_) | Node::AnonymousFunction(_) => {}
        }
        for r in stmt.redirects.iter() {
            // Heredoc bodies are data: hadolint does not look into them.
            if let RedirectTarget::Word(w) = &r.target {
                self.nested(w);
            }
        }
    }

    fn compound(&mut self, c: &CompoundCommand) {
        match c {
            CompoundCommand::Subshell(s) | CompoundCommand::BraceGroup(s) => self.seq(s),
            CompoundCommand::If(i) => {
                self.seq(&i.condition);
                self.seq(&i.then_branch);
                for (cond, body) in &i.elif_branches {
                    self.seq(cond);
                    self.seq(body);
                }
                if let Some(e) = &i.else_branch {
                    self.seq(e);
                }
            }
            CompoundCommand::For(f) => {
                for w in f.words.iter().flatten() {
                    self.nested(w);
                }
                self.seq(&f.body);
            }
            CompoundCommand::Select(s) => {
                for w in &s.words {
                    self.nested(w);
                }
                self.seq(&s.body);
            }
            CompoundCommand::While(l) => {
                self.seq(&l.condition);
                self.seq(&l.body);
            }
            CompoundCommand::Until(l) => {
                self.seq(&l.condition);
                self.seq(&l.body);
            }
            CompoundCommand::Case(k) => {
                self.nested(&k.word);
                for item in &k.cases {
                    self.seq(&item.body);
                }
            }
            CompoundCommand::Time(t) => {
                if let Some(s) = &t.command {
                    self.stmt(s);
                }
            }
            CompoundCommand::Coproc(c) => self.stmt(&c.body),
            _ => {}
        }
    }

    /// The commands inside a word's substitutions.
    fn nested(&mut self, w: &Word) {
        self.nested_parts(&w.parts);
    }

    fn nested_parts(&mut self, parts: &[WordPartNode]) {
        for p in parts {
            match &p.kind {
                WordPart::DoubleQuoted { parts, .. } => self.nested_parts(parts),
                WordPart::CommandSubstitution { body, .. }
                | WordPart::ProcessSubstitution { body, .. } => self.seq(body),
                _ => {}
            }
        }
    }

    /// A word as hadolint renders it: quotes removed, `$V` as `${V}`,
    /// `${…}` as written, `$(a b)` as `$(ab)`, backticks and arithmetic as
    /// `${VAR}`.
    fn render(&self, w: &Word) -> String {
        let mut out = String::new();
        self.render_parts(&w.parts, false, &mut out);
        out
    }

    fn render_parts(&self, parts: &[WordPartNode], quoted: bool, out: &mut String) {
        for p in parts {
            match &p.kind {
                WordPart::Literal(t) => unescape(t.as_str(self.src, p.span), quoted, out),
                // '…' and $'…' as written between the quotes.
                WordPart::SingleQuoted { value, .. } => out.push_str(value.slice(self.src)),
                WordPart::DoubleQuoted { parts, .. } => self.render_parts(parts, true, out),
                WordPart::Variable(name) => {
                    out.push_str("${");
                    out.push_str(name.as_str());
                    out.push('}');
                }
                WordPart::CommandSubstitution {
                    body,
                    syntax: CommandSubstitutionSyntax::DollarParen,
                } => {
                    out.push_str("$(");
                    // The words of the commands directly inside, run together.
                    for c in body.stmts.iter().flat_map(|s| self.words_of(s)) {
                        out.push_str(&c);
                    }
                    out.push(')');
                }
                WordPart::Parameter(_)
                | WordPart::ParameterExpansion { .. }
                | WordPart::Length(_)
                | WordPart::ArrayAccess(_)
                | WordPart::ArrayLength(_)
                | WordPart::ArrayIndices(_)
                | WordPart::Substring { .. }
                | WordPart::ArraySlice { .. }
                | WordPart::IndirectExpansion { .. }
                | WordPart::PrefixMatch { .. }
                | WordPart::Transformation { .. } => {
                    let text = p.span.slice(self.src);
                    if text.starts_with("${") {
                        out.push_str(text);
                    } else {
                        out.push_str("${");
                        out.push_str(text.trim_start_matches('$'));
                        out.push('}');
                    }
                }
                _ => out.push_str("${VAR}"),
            }
        }
    }

    /// The rendered words (name included) of the simple command `stmt` is,
    /// for `$(…)`'s rendering.
    fn words_of(&self, stmt: &Stmt) -> Vec<String> {
        match &stmt.command {
            Node::Simple(c) => std::iter::once(&c.name)
                .chain(&c.args)
                .map(|w| self.render(w))
                .collect(),
            Node::Binary(b) => {
                let mut v = self.words_of(&b.left);
                v.extend(self.words_of(&b.right));
                v
            }
            _ => Vec::new(),
        }
    }
}

/// The command name of `first` (a literal word) given the rendered words
/// after it: wrappers pass the name on to the next word that is not a flag
/// (`exec -a NAME` skips NAME too).
fn unwrap_name(first: String, args: &[String]) -> String {
    let mut name = first;
    let mut i = 0;
    while WRAPPERS.contains(&name.as_str()) {
        let exec = name == "exec";
        let mut next = None;
        while i < args.len() {
            let a = &args[i];
            i += 1;
            if a.starts_with('-') && a.len() > 1 {
                if exec && a.ends_with('a') {
                    i += 1;
                }
                continue;
            }
            next = Some(a.clone());
            break;
        }
        match next {
            Some(n) => name = n,
            None => break,
        }
    }
    name
}

/// The text of a word made only of literal text and quotes, else `None`
/// (`$CMD`, `\apt-get`).
fn literal(src: &str, w: &Word) -> Option<String> {
    fn go(src: &str, parts: &[WordPartNode], out: &mut String) -> bool {
        parts.iter().all(|p| match &p.kind {
            WordPart::Literal(t) => {
                let s = t.as_str(src, p.span);
                out.push_str(s);
                !s.contains('\\')
            }
            WordPart::SingleQuoted {
                value,
                dollar: false,
            } => {
                out.push_str(value.slice(src));
                true
            }
            WordPart::DoubleQuoted { parts, .. } => go(src, parts, out),
            _ => false,
        })
    }
    let mut out = String::new();
    (go(src, &w.parts, &mut out) && !out.is_empty()).then_some(out)
}

/// Literal text without its backslash escapes (inside double quotes only
/// `\$`, `` \` ``, `\"` and `\\` are escapes).
fn unescape(s: &str, quoted: bool, out: &mut String) {
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&n) = chars.peek()
            && (!quoted || matches!(n, '$' | '`' | '"' | '\\'))
        {
            out.push(n);
            chars.next();
            continue;
        }
        out.push(c);
    }
}
