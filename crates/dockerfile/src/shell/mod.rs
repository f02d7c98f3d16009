//! The commands inside a `RUN`, as hadolint sees them.
//!
//! hadolint parses every RUN as bash (ShellCheck's parser) and keeps each
//! simple command with its name, its words rendered to text and the flags
//! read from those words; its rules then ask questions such as "is there
//! an `apt-get` with the argument `install`" ([`Command::has_args`]). This
//! module is that model: [`ParsedShell::parse`] (the parser itself is the
//! `shuck-parser` crate, seen only by [`parse`]) and the helpers the rules
//! use, named after hadolint's own (`getArgsNoFlags`, `dropFlagArg`…).
//!
//! A script that does not parse cleanly gives no commands (hadolint's rules
//! stay silent on it too).

mod parse;

/// One simple command: `apt-get install -y curl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The command's name, after the wrappers `command`, `exec`, `builtin`,
    /// `busybox` and `run` (whose own words stay in [`Command::args`]).
    pub name: String,
    /// Every word after the first, rendered (quotes removed, `$V` as `${V}`).
    pub args: Vec<String>,
    /// Flags read from the words: (flag, index of its word in `args`);
    /// `-yq` gives `y` and `q`, `--target-release=x` gives `target-release`.
    pub flags: Vec<(String, usize)>,
}

/// A RUN's script, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedShell {
    /// The script's text as given to the parser.
    pub original: String,
    /// Every simple command, in source order (outer before inner: the
    /// commands of a `$(…)` follow the command that holds it).
    pub commands: Vec<Command>,
    /// A `|` or `|&` anywhere (not `||`, not a `case` pattern).
    pub has_pipes: bool,
}

impl ParsedShell {
    /// Parse `script` as bash.
    pub fn parse(script: &str) -> ParsedShell {
        let (commands, has_pipes) = parse::commands(script).unwrap_or_default();
        ParsedShell {
            original: script.to_string(),
            commands,
            has_pipes,
        }
    }

    /// Whether some command is named `name`.
    pub fn using_program(&self, name: &str) -> bool {
        self.commands.iter().any(|c| c.name == name)
    }

    /// Whether some command is `name` with one of `args` among its
    /// arguments (hadolint's `cmdHasArgs`: any of them, not all).
    pub fn any_has_args(&self, name: &str, args: &[&str]) -> bool {
        self.commands.iter().any(|c| c.has_args(name, args))
    }
}

impl Command {
    fn new(name: String, args: Vec<String>) -> Command {
        let flags = args
            .iter()
            .enumerate()
            .flat_map(|(i, a)| flags_of(a).into_iter().map(move |f| (f, i)))
            .collect();
        Command { name, args, flags }
    }

    /// `cmdHasArgs`: the command is `name` and some argument is one of `args`.
    pub fn has_args(&self, name: &str, args: &[&str]) -> bool {
        self.name == name && self.args.iter().any(|a| args.contains(&a.as_str()))
    }

    /// `cmdsHaveArgs`: the command is one of `names` and some argument is
    /// one of `args`.
    pub fn names_have_args(&self, names: &[&str], args: &[&str]) -> bool {
        names.contains(&self.name.as_str()) && self.args.iter().any(|a| args.contains(&a.as_str()))
    }

    /// `hasArg`: some argument is exactly `arg`.
    pub fn has_arg(&self, arg: &str) -> bool {
        self.args.iter().any(|a| a == arg)
    }

    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|(f, _)| f == flag)
    }

    pub fn has_any_flag(&self, flags: &[&str]) -> bool {
        self.flags.iter().any(|(f, _)| flags.contains(&f.as_str()))
    }

    pub fn count_flag(&self, flag: &str) -> usize {
        self.flags.iter().filter(|(f, _)| f == flag).count()
    }

    fn is_flag_word(&self, i: usize) -> bool {
        self.flags.iter().any(|(_, w)| *w == i)
    }

    /// `getArgsNoFlags`: the arguments that are not flag words (a bare `-`
    /// or `--` stays).
    pub fn args_no_flags(&self) -> Vec<&str> {
        (0..self.args.len())
            .filter(|i| !self.is_flag_word(*i))
            .map(|i| self.args[i].as_str())
            .collect()
    }

    /// `getFlagArg`: for each occurrence of `flag`, the word after it.
    pub fn flag_args(&self, flag: &str) -> Vec<&str> {
        self.flags
            .iter()
            .filter(|(f, _)| f == flag)
            .filter_map(|(_, w)| self.args.get(w + 1).map(String::as_str))
            .collect()
    }

    /// `dropFlagArg`: a copy without the value word of each of `flags`
    /// (`-t buster curl` drops `buster`; `-t=x` and `--target-release=x`
    /// carry their value and drop nothing; `-tbuster curl` drops `curl`).
    pub fn drop_flag_arg(&self, flags: &[&str]) -> Command {
        let mut drop: Vec<usize> = self
            .flags
            .iter()
            .filter(|(f, w)| flags.contains(&f.as_str()) && !self.args[*w].contains('='))
            .map(|(_, w)| w + 1)
            .filter(|w| *w < self.args.len())
            .collect();
        drop.sort_unstable();
        drop.dedup();
        let args: Vec<String> = (0..self.args.len())
            .filter(|i| drop.binary_search(i).is_err())
            .map(|i| self.args[i].clone())
            .collect();
        // Flags keep pointing at their words, renumbered.
        let renumber = |w: usize| w - drop.iter().filter(|d| **d < w).count();
        Command {
            name: self.name.clone(),
            flags: self
                .flags
                .iter()
                .filter(|(_, w)| drop.binary_search(w).is_err())
                .map(|(f, w)| (f.clone(), renumber(*w)))
                .collect(),
            args,
        }
    }
}

/// The flags of one word: `--name[=v]` → `name`; `-abc` → `a`, `b`, `c`;
/// a bare `-` or `--` and anything else → none.
fn flags_of(word: &str) -> Vec<String> {
    if word == "-" || word == "--" {
        return Vec::new();
    }
    if let Some(long) = word.strip_prefix("--") {
        return vec![long.split('=').next().unwrap_or(long).to_string()];
    }
    match word.strip_prefix('-') {
        Some(short) => short.chars().map(String::from).collect(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmds(s: &str) -> Vec<(String, Vec<String>)> {
        ParsedShell::parse(s)
            .commands
            .into_iter()
            .map(|c| (c.name, c.args))
            .collect()
    }

    fn names(s: &str) -> Vec<String> {
        cmds(s).into_iter().map(|c| c.0).collect()
    }

    #[test]
    fn commands_come_in_source_order_with_substitutions_after_their_holder() {
        assert_eq!(
            names("apt-get update && x=$(curl -s a | tr -d 3); echo \"$(date)\" `id -u`"),
            ["apt-get", "curl", "tr", "echo", "date", "id"]
        );
        assert_eq!(
            names("if [ -f x ]; then cd /x; fi; for a in 1; do (make); done"),
            ["[", "cd", "make"]
        );
        assert_eq!(
            names("f() { wget x; }; time apt-get install y"),
            ["wget", "apt-get"]
        );
        // Assignments alone are no command; declarations are.
        assert_eq!(names("A=1; export B=2; A=3 make"), ["export", "make"]);
    }

    #[test]
    fn words_are_rendered_as_hadolint_renders_them() {
        let c =
            &cmds(r#"apt-get install -y "curl=1" 'a b' $PKG ${V:-x} $(echo a b) `x` $((1+2))"#)[0];
        assert_eq!(
            c.1,
            [
                "install",
                "-y",
                "curl=1",
                "a b",
                "${PKG}",
                "${V:-x}",
                "$(echoab)",
                "${VAR}",
                "${VAR}"
            ]
        );
        // A redirection is not an argument.
        assert_eq!(
            cmds("pip install flask>=1 2>/dev/null")[0].1,
            ["install", "flask"]
        );
    }

    #[test]
    fn wrappers_give_their_command_its_name_and_keep_their_words() {
        let c = &ParsedShell::parse("command apt-get install -y x").commands[0];
        assert_eq!(c.name, "apt-get");
        assert_eq!(c.args, ["apt-get", "install", "-y", "x"]);
        assert_eq!(
            names("exec -a n busybox wget x; sudo vim"),
            ["wget", "sudo"]
        );
    }

    #[test]
    fn pipes_are_real_pipes_only() {
        assert!(ParsedShell::parse("a | b").has_pipes);
        assert!(ParsedShell::parse("a |& b").has_pipes);
        assert!(ParsedShell::parse("x=\"$(echo \"$s\" | tr -d 3)\"").has_pipes);
        assert!(!ParsedShell::parse("a || b").has_pipes);
        assert!(!ParsedShell::parse("case $a in x86_64|aarch64) echo;; esac").has_pipes);
        assert!(!ParsedShell::parse("echo 'a|b' \"c|d\" e\\|f # g|h").has_pipes);
    }

    #[test]
    fn non_ascii_text_cannot_trip_the_parser() {
        // Found by the never-panics property test: shuck-parser sliced
        // inside '😀'.
        let p = ParsedShell::parse("[\"unclosed\\\n`é€😀`\n[\"unclosed");
        assert!(p.commands.len() <= 3);
        let p = ParsedShell::parse("echo héllo && apt-get install -y x");
        assert_eq!(p.commands[1].name, "apt-get");
        assert_eq!(p.commands[0].args, ["h??llo"]);
    }

    #[test]
    fn scripts_that_do_not_parse_give_no_commands() {
        assert!(ParsedShell::parse("echo \"open").commands.is_empty());
        assert!(ParsedShell::parse("if true; then echo").commands.is_empty());
        assert!(ParsedShell::parse("<<E$[\t\t").commands.is_empty());
    }

    #[test]
    fn flags_and_their_values() {
        let c = &ParsedShell::parse("apt-get install -yq --target-release=x -t buster curl")
            .commands[0];
        assert!(c.has_flag("y") && c.has_flag("q") && c.has_flag("target-release"));
        assert_eq!(c.args_no_flags(), ["install", "buster", "curl"]);
        assert_eq!(c.drop_flag_arg(&["t"]).args_no_flags(), ["install", "curl"]);
        let c = &ParsedShell::parse("apt-get install -tbuster curl -- x").commands[0];
        assert_eq!(
            c.drop_flag_arg(&["t"]).args_no_flags(),
            ["install", "--", "x"]
        );
        let c = &ParsedShell::parse("useradd -u 100000 -qq bob").commands[0];
        assert_eq!(c.flag_args("u"), ["100000"]);
        assert_eq!(c.count_flag("q"), 2);
    }
}
