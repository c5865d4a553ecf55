//! docker/Dockerfile: where a Docker engine answers, the image is built and run until its
//! health check reports healthy; elsewhere the Dockerfile's own steps run here, outside Docker:
//! its build stage's RUN commands in the repository (what `COPY . .` gives them), then the run
//! stage's ENV, WORKDIR, USER, ENTRYPOINT and HEALTHCHECK, with the image's paths mapped into a
//! temporary directory. Either way the file's promises are checked: two stages from the official
//! Rust image and Debian slim, a non-root user, a volume, port 9092, a health check.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use gregor_itests::raw::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use gregor_itests::raw::RawClient;

/// One instruction: its keyword and the rest of the logical line.
#[derive(Debug, Clone)]
struct Instruction {
    keyword: String,
    args: String,
}

/// The instructions of each stage, in order.
#[derive(Debug)]
struct Stage {
    from: String,
    steps: Vec<Instruction>,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

fn parse_dockerfile(text: &str) -> Vec<Stage> {
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else {
            current.push_str(trimmed);
            logical.push(std::mem::take(&mut current));
        }
    }
    let mut stages: Vec<Stage> = Vec::new();
    for line in logical {
        let (keyword, args) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let instruction = Instruction {
            keyword: keyword.to_ascii_uppercase(),
            args: args.trim().to_string(),
        };
        if instruction.keyword == "FROM" {
            stages.push(Stage {
                from: instruction.args,
                steps: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.steps.push(instruction);
        }
    }
    stages
}

fn steps<'a>(stage: &'a Stage, keyword: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    stage
        .steps
        .iter()
        .filter(move |i| i.keyword == keyword)
        .map(|i| i.args.as_str())
}

/// An exec-form list (`["gregor", "--healthcheck"]`).
fn exec_form(args: &str) -> anyhow::Result<Vec<String>> {
    serde_json::from_str(args).with_context(|| format!("not an exec-form list: {args}"))
}

/// What the Dockerfile promises, whatever runs it.
fn check_shape(stages: &[Stage]) -> anyhow::Result<()> {
    assert_eq!(stages.len(), 2, "a build stage and a run stage");
    assert!(stages[0].from.starts_with("rust:"), "{}", stages[0].from);
    assert!(stages[1].from.starts_with("debian:") && stages[1].from.contains("slim"));
    let run = &stages[1];
    let user = steps(run, "USER").last().context("no USER")?;
    assert!(user != "root" && user != "0", "runs as {user}");
    assert!(steps(run, "VOLUME").next().is_some(), "no VOLUME");
    assert!(steps(run, "EXPOSE").any(|p| p.split_whitespace().any(|p| p == "9092")));
    let health = steps(run, "HEALTHCHECK").last().context("no HEALTHCHECK")?;
    assert!(health.contains("CMD"), "{health}");
    Ok(())
}

#[test]
fn dockerfile_builds_and_runs_healthy() -> anyhow::Result<()> {
    let root = repo_root();
    let text = std::fs::read_to_string(root.join("docker/Dockerfile"))?;
    let stages = parse_dockerfile(&text);
    check_shape(&stages)?;
    match docker_engine() {
        Ok(()) => in_docker(&root),
        Err(why) => {
            println!("no Docker engine ({why}): running the Dockerfile's steps outside Docker");
            outside_docker(&root, &stages)
        }
    }
}

fn docker_engine() -> Result<(), String> {
    let out = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("docker: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

fn docker(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        bail!(
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn in_docker(root: &Path) -> anyhow::Result<()> {
    let tag = format!("gregor-itest:{}", std::process::id());
    let context = root.to_str().unwrap();
    docker(&["build", "-f", "docker/Dockerfile", "-t", &tag, context])?;
    let id = docker(&["run", "-d", "-p", "127.0.0.1::9092", &tag])?;
    let result = (|| {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let health = docker(&["inspect", "-f", "{{.State.Health.Status}}", &id])?;
            if health == "healthy" {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "container not healthy within 90 s ({health}): {}",
                    docker(&["logs", &id])?
                );
            }
            // Polling for the container's readiness.
            std::thread::sleep(Duration::from_millis(500));
        }
        let port = docker(&["port", &id, "9092/tcp"])?;
        let addr = port
            .lines()
            .next()
            .context("no published port")?
            .to_string();
        let mut client = RawClient::connect(&addr)?;
        let response: ApiVersionsResponse =
            client.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())?;
        assert_eq!(response.error_code, 0);
        println!("image {tag} healthy, serving on {addr}");
        Ok(())
    })();
    let _ = docker(&["rm", "-f", &id]);
    let _ = docker(&["rmi", &tag]);
    result
}

/// Maps the image's absolute paths into `fake_root` (and the build's output into the target
/// dir), in the order longest path first.
struct PathMap(Vec<(String, PathBuf)>);

impl PathMap {
    /// One pass, longest match first, so a replacement is never rewritten again.
    fn rewrite(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            match self
                .0
                .iter()
                .find(|(from, _)| rest.starts_with(from.as_str()))
            {
                Some((from, to)) => {
                    out.push_str(to.to_str().unwrap());
                    rest = &rest[from.len()..];
                }
                None => {
                    out.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
        out
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("0.0.0.0:0")?
        .local_addr()?
        .port())
}

fn outside_docker(root: &Path, stages: &[Stage]) -> anyhow::Result<()> {
    // Build stage: `WORKDIR /src` + `COPY . .` is the repository itself; its target dir is the
    // one these tests were built in.
    let exe = std::env::current_exe()?;
    let target_dir = exe.ancestors().nth(3).context("target dir")?.to_path_buf();
    let build = &stages[0];
    let workdir = steps(build, "WORKDIR").last().unwrap_or("/").to_string();
    for run in steps(build, "RUN") {
        println!("build stage: RUN {run}");
        let status = Command::new("sh")
            .args(["-c", run])
            .current_dir(root)
            .env("CARGO_TARGET_DIR", &target_dir)
            .status()?;
        assert!(status.success(), "RUN {run} failed: {status}");
    }

    // Run stage: the image's files under a temporary root.
    let fake_root = tempfile::tempdir()?;
    std::fs::set_permissions(fake_root.path(), std::fs::Permissions::from_mode(0o755))?;
    let run = &stages[1];
    let mut map: Vec<(String, PathBuf)> = vec![(
        format!("{}/target", workdir.trim_end_matches('/')),
        target_dir.clone(),
    )];
    for dir in steps(run, "VOLUME")
        .flat_map(|v| exec_form(v).unwrap_or_else(|_| vec![v.to_string()]))
        .chain(steps(run, "WORKDIR").map(str::to_string))
    {
        let local = fake_root.path().join(dir.trim_start_matches('/'));
        std::fs::create_dir_all(&local).with_context(|| format!("creating {}", local.display()))?;
        map.push((dir, local));
    }
    let mut copies = Vec::new();
    for copy in steps(run, "COPY") {
        let parts: Vec<&str> = copy.split_whitespace().collect();
        let (from_build, src, dest) = match parts.as_slice() {
            [flag, src, dest] if flag.starts_with("--from=") => (true, *src, *dest),
            [src, dest] => (false, *src, *dest),
            _ => bail!("COPY form not understood: {copy}"),
        };
        copies.push((from_build, src.to_string(), dest.to_string()));
    }
    // A binary copied from the build stage is run where the build left it.
    let mut binaries = BTreeMap::new();
    for (from_build, src, dest) in &copies {
        if *from_build {
            let local = PathMap(map.clone()).rewrite(src);
            assert!(Path::new(&local).exists(), "{local} was not built");
            let name = Path::new(dest)
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            binaries.insert(name, local.clone());
            map.push((dest.clone(), PathBuf::from(local)));
        } else {
            map.push((
                dest.clone(),
                fake_root.path().join(dest.trim_start_matches('/')),
            ));
        }
    }
    map.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
    let map = PathMap(map);
    for (from_build, src, dest) in &copies {
        if !from_build {
            let local = fake_root.path().join(dest.trim_start_matches('/'));
            std::fs::create_dir_all(local.parent().unwrap())?;
            let text = std::fs::read_to_string(root.join(src))
                .with_context(|| format!("reading {src}"))?;
            std::fs::write(&local, map.rewrite(&text))
                .with_context(|| format!("writing {}", local.display()))?;
        }
    }
    let mut env = Vec::new();
    for e in steps(run, "ENV") {
        let (k, v) = e.split_once('=').context("ENV KEY=VALUE form")?;
        env.push((k.to_string(), map.rewrite(v)));
    }
    // As `docker run -p PORT:9092 -e GREGOR_LISTENERS=...` would: 9092 may be taken here.
    let port = free_port()?;
    env.push((
        "GREGOR_LISTENERS".into(),
        format!("PLAINTEXT://0.0.0.0:{port}"),
    ));
    env.push((
        "GREGOR_ADVERTISED_LISTENERS".into(),
        format!("PLAINTEXT://localhost:{port}"),
    ));
    let workdir = map.rewrite(steps(run, "WORKDIR").last().unwrap_or("/"));
    // USER: the run stage's useradd is not run here (it would add a user to this machine), but
    // its uid is taken, with its home (the volume) owned by it, where this test may switch user.
    let uid = user_to_become(run, &map)?;
    let command = |exec: &[String]| -> anyhow::Result<Command> {
        let program = binaries
            .get(&exec[0])
            .with_context(|| format!("{} is not a binary the image copies", exec[0]))?;
        let mut c = match uid {
            Some(uid) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={uid}"))
                    .arg("--clear-groups")
                    .arg(program);
                c
            }
            None => Command::new(program),
        };
        // The image's ENV only, not this shell's GREGOR_*/KAFKA_* variables.
        gregor_itests::without_broker_settings(&mut c)
            .args(&exec[1..])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("NO_COLOR", "1")
            .current_dir(&workdir);
        Ok(c)
    };

    let entrypoint = exec_form(steps(run, "ENTRYPOINT").last().context("no ENTRYPOINT")?)?;
    let mut exec = entrypoint;
    if let Some(cmd) = steps(run, "CMD").last() {
        exec.extend(exec_form(cmd)?);
    }
    println!(
        "run stage: {} (port {port}, image root {})",
        exec.join(" "),
        fake_root.path().display()
    );
    let mut child = command(&exec)?
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", exec.join(" ")))?;
    let result = serve_and_check(&mut child, run, &command, port);
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let status = child.wait()?;
    result?;
    assert!(
        status.success(),
        "gregor exited with {status} after SIGTERM"
    );
    let data = fake_root.path().join("var/lib/gregor/data");
    assert!(
        data.join("format-version").exists(),
        "data not on the volume"
    );
    Ok(())
}

/// The uid of the run stage's user (`useradd --uid N`), if this test runs as root with setpriv
/// and can therefore run the broker as that user; the volume dirs are given to it.
fn user_to_become(run: &Stage, map: &PathMap) -> anyhow::Result<Option<u32>> {
    use std::os::unix::fs::MetadataExt;
    let uid = steps(run, "RUN").find_map(|r| {
        let words: Vec<&str> = r.split_whitespace().collect();
        let at = words.iter().position(|w| *w == "--uid")?;
        words.get(at + 1)?.parse::<u32>().ok()
    });
    let Some(uid) = uid else {
        println!("USER not emulated: no useradd --uid in the run stage");
        return Ok(None);
    };
    if std::fs::metadata("/proc/self")?.uid() != 0
        || Command::new("setpriv").arg("--version").output().is_err()
    {
        println!("USER not emulated: switching to uid {uid} needs root and setpriv");
        return Ok(None);
    }
    for volume in steps(run, "VOLUME").flat_map(|v| exec_form(v).unwrap_or_default()) {
        let local = PathBuf::from(map.rewrite(&volume));
        std::os::unix::fs::chown(&local, Some(uid), Some(uid))
            .with_context(|| format!("chown {}", local.display()))?;
    }
    println!("USER emulated: running as uid {uid}, owner of the volume");
    Ok(Some(uid))
}

fn serve_and_check(
    child: &mut Child,
    run: &Stage,
    command: &dyn Fn(&[String]) -> anyhow::Result<Command>,
    port: u16,
) -> anyhow::Result<()> {
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx2.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .with_context(|| format!("no banner; output:\n{}", seen.join("\n")))?;
        println!("  | {line}");
        let ready = line.contains("listening on");
        seen.push(line);
        if ready {
            break;
        }
    }
    let health = steps(run, "HEALTHCHECK").last().unwrap();
    let cmd = health.split("CMD").nth(1).unwrap().trim();
    let out = command(&exec_form(cmd)?)?.output()?;
    println!(
        "HEALTHCHECK CMD {cmd}: {} {}",
        out.status,
        String::from_utf8_lossy(&out.stdout).trim()
    );
    assert!(
        out.status.success(),
        "unhealthy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut client = RawClient::connect(&format!("127.0.0.1:{port}"))?;
    let response: ApiVersionsResponse =
        client.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())?;
    assert_eq!(response.error_code, 0);
    Ok(())
}
