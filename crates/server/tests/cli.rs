//! The `sipjet check-config` command, run as the built binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A folder of its own under the system's temporary folder, removed when
/// dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sipjet-cli-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn check_config(path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sipjet"))
        .arg("check-config")
        .arg(path)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The lines of `stderr` that start with `prefix` (`error:`, `warning:`).
fn lines_starting<'a>(stderr: &'a str, prefix: &str) -> Vec<&'a str> {
    stderr.lines().filter(|l| l.starts_with(prefix)).collect()
}

#[test]
fn the_sample_configuration_checks_clean() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/pjsip.conf.sample");
    let out = check_config(&sample);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(lines_starting(&stderr, "error:"), Vec::<&str>::new());
    assert!(stdout.contains("3 endpoints"), "{stdout}");
}

const FAULTY: &str = "\
[global]
type = global

[alice]
type = endpoint
auth = nosuch-auth

[alice-aor]
type = aor
max_contacts = many

[typeless]
context = default
";

#[test]
fn errors_fail_the_check_and_name_file_line_and_option() {
    let scratch = Scratch::new();
    let path = scratch.file("faulty.conf", FAULTY);
    let out = check_config(&path);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    let errors = lines_starting(&stderr, "error:");
    let file = path.display().to_string();
    // (line, what the message must name)
    let expected = [
        (6, "option auth: auth nosuch-auth does not exist"),
        (10, "option max_contacts"),
        (12, "[typeless] has no type="),
    ];
    for (line, what) in expected {
        let at = format!("error: {file}:{line}: ");
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with(&at) && e.contains(what)),
            "no error at {file}:{line} naming {what:?} in:\n{stderr}"
        );
    }
    assert_eq!(errors.len(), expected.len(), "{stderr}");
    assert!(stderr.contains("3 errors"), "{stderr}");
}

#[test]
fn a_missing_include_fails_the_check_at_the_include_line() {
    let scratch = Scratch::new();
    let path = scratch.file(
        "main.conf",
        "[global]\ntype = global\n\n#include \"missing.conf\"\n",
    );
    let out = check_config(&path);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    let errors = lines_starting(&stderr, "error:");
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].starts_with(&format!("error: {}:4: ", path.display()))
            && errors[0].contains("missing.conf"),
        "{stderr}"
    );

    // The same include, present, is read (its error is reported in it).
    let included = scratch.file("missing.conf", "[broken]\ntype = nonsense\n");
    let out = check_config(&path);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!("error: {}:1: ", included.display()))
            && stderr.contains("type=nonsense"),
        "{stderr}"
    );
}

#[test]
fn unsupported_options_are_warnings_that_do_not_fail() {
    let scratch = Scratch::new();
    let path = scratch.file(
        "media.conf",
        "\
[alice]
type = endpoint
allow = ulaw
direct_media = no
frobnicate = yes
",
    );
    let out = check_config(&path);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(lines_starting(&stderr, "error:"), Vec::<&str>::new());
    let warnings = lines_starting(&stderr, "warning:");
    let file = path.display().to_string();
    for (line, option) in [(3, "allow"), (4, "direct_media"), (5, "frobnicate")] {
        let at = format!("warning: {file}:{line}: ");
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with(&at) && w.contains(&format!("option {option} "))),
            "no warning at {file}:{line} naming {option} in:\n{stderr}"
        );
    }
    assert_eq!(warnings.len(), 3, "{stderr}");
    assert!(stdout.contains("3 warnings"), "{stdout}");
}

/// `match = 10.0.0.0/33` is no address, range or host name; the loader
/// keeps it without a word and the IP identifier drops it without a word,
/// so the section silently matches less than the file says.
#[test]
fn a_bad_identify_match_is_an_error_at_its_line() {
    let scratch = Scratch::new();
    let path = scratch.file(
        "identify.conf",
        "\
[gw]
type = endpoint

[gw-match]
type = identify
endpoint = gw
match = 192.0.2.1
match = 10.0.0.0/33
",
    );
    let out = check_config(&path);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    let at = format!("error: {}:8: ", path.display());
    assert!(
        lines_starting(&stderr, "error:")
            .iter()
            .any(|e| e.starts_with(&at) && e.contains("option match")),
        "{stderr}"
    );
}

/// A reference to a missing section is reported at the section's line,
/// not at the line of the option that names it.
#[test]
fn an_unknown_reference_is_reported_at_its_option_line() {
    let scratch = Scratch::new();
    let path = scratch.file("faulty.conf", FAULTY);
    let (_, stderr) = text(&check_config(&path));
    let at = format!("error: {}:6: ", path.display());
    assert!(
        lines_starting(&stderr, "error:")
            .iter()
            .any(|e| e.starts_with(&at) && e.contains("auth nosuch-auth")),
        "{stderr}"
    );
}

#[test]
fn the_office_sample_and_its_dialplan_check_clean() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/office/pjsip.conf");
    let out = check_config(&sample);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(lines_starting(&stderr, "error:"), Vec::<&str>::new());
    assert!(stdout.contains("extensions.conf: 3 contexts"), "{stdout}");
    assert_eq!(
        lines_starting(&stderr, "warning:"),
        Vec::<&str>::new(),
        "{stderr}"
    );
}

#[test]
fn a_faulty_dialplan_fails_the_check_at_its_line() {
    let scratch = Scratch::new();
    let pjsip = scratch.file(
        "pjsip.conf",
        "[global]\ntype = global\ndialplan = extensions.conf\n\
         [alice]\ntype = endpoint\ncontext = office\n",
    );
    scratch.file(
        "extensions.conf",
        "[office]\nexten => _[1,1,Dial(PJSIP/alice)\nexten => 2,1,Playback(hello)\n",
    );
    let out = check_config(&pjsip);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    let errors = lines_starting(&stderr, "error:");
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("extensions.conf:2:"), "{stderr}");
    let warnings = lines_starting(&stderr, "warning:");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("extensions.conf:3:") && w.contains("Playback")),
        "{stderr}"
    );
    // --dialplan names another file instead.
    let good = scratch.file("good.conf", "[office]\nexten => 1,1,Dial(PJSIP/alice)\n");
    let out = Command::new(env!("CARGO_BIN_EXE_sipjet"))
        .arg("check-config")
        .arg(&pjsip)
        .arg("--dialplan")
        .arg(&good)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("good.conf: 1 contexts; 0 warnings"),
        "{stdout}"
    );
}

#[test]
fn location_db_and_node_id_are_checked() {
    let scratch = Scratch::new();
    let path = scratch.file(
        "bad.conf",
        "[global]\ntype = global\nlocation_db = postgres://sipjet:hunter2@db.example.com/sip?sslmode=maybe\nnode_id = node 1\n",
    );
    let out = check_config(&path);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    let errors = lines_starting(&stderr, "error:");
    let file = path.display().to_string();
    assert!(
        errors.iter().any(
            |e| e.starts_with(&format!("error: {file}:3: ")) && e.contains("sslmode \"maybe\"")
        ),
        "{stderr}"
    );
    assert!(
        !stderr.contains("hunter2"),
        "the password is shown: {stderr}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with(&format!("error: {file}:4: ")) && e.contains("not a node id")),
        "{stderr}"
    );
    assert_eq!(errors.len(), 2, "{stderr}");
}

/// `location_db` in `[global]` is where `sipjet run` keeps registrations,
/// unless `--location-db` says otherwise.
#[test]
fn run_uses_the_configured_location_db_unless_the_command_line_names_another() {
    let scratch = Scratch::new();
    // Nothing listens on port 1: a server that tries this database does
    // not start.
    let conf = scratch.file(
        "node.conf",
        "[global]\ntype = global\nlocation_db = postgres://sipjet@127.0.0.1:1/sip?connect_timeout=5\n\
         [udp]\ntype = transport\nprotocol = udp\nbind = 127.0.0.1:0\n",
    );
    let run = |extra: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sipjet"));
        command
            .args(["run", "--no-admin", "--config"])
            .arg(&conf)
            .args(extra)
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        command.spawn().unwrap()
    };
    let out = run(&[]).wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("cannot start: location database postgres://sipjet@127.0.0.1:1/sip")
            && stderr.contains("unavailable"),
        "{stderr}"
    );

    let db = scratch.0.join("given.db");
    let db_arg = db.display().to_string();
    let mut child = run(&["--location-db", &db_arg]);
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    let started = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("listening"));
    let _ = child.kill();
    let _ = child.wait();
    assert!(started, "the server did not start on --location-db");
    assert!(
        db.exists(),
        "the database named on the command line is not used"
    );
}
