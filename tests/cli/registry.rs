//! Digests from a real registry: Debian's `docker-registry` (the distribution registry) on
//! loopback with token auth (the Bearer flow ghcr.io uses), a token service in the test that
//! hands out a JWT signed with a key made by the `openssl` CLI, and an OCI image index built
//! by the test and pushed with `skopeo`. migtag's digest must be the one skopeo reports.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::common::{fixture, migtag, output_with_stdin, run};

const SERVICE: &str = "migtag-registry";
const ISSUER: &str = "migtag-test";

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn ok(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn sha256_hex(path: &Path) -> String {
    let out = String::from_utf8(ok(Command::new("sha256sum").arg(path))).unwrap();
    out.split_whitespace().next().unwrap().to_string()
}

/// A JWT the registry accepts: RS256 over header.claims, signed by `key.pem`, whose
/// self-signed certificate travels in `x5c` and is the registry's root bundle.
fn token(dir: &Path) -> String {
    ok(Command::new("openssl").current_dir(dir).args([
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "cert.pem",
        "-subj",
        "/CN=migtag-test-token",
        "-days",
        "1",
    ]));
    let der = ok(Command::new("openssl")
        .current_dir(dir)
        .args(["x509", "-in", "cert.pem", "-outform", "DER"]));
    let header = json!({
        "alg": "RS256",
        "typ": "JWT",
        "x5c": [base64::engine::general_purpose::STANDARD.encode(der)],
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({
        "iss": ISSUER, "sub": "test", "aud": SERVICE,
        "exp": now + 3600, "nbf": now - 60, "iat": now - 60, "jti": "migtag-test",
        "access": [{"type": "repository", "name": "coder/coder", "actions": ["pull", "push"]}],
    });
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    std::fs::write(dir.join("signing-input"), &input).unwrap();
    let sig = ok(Command::new("openssl").current_dir(dir).args([
        "dgst",
        "-sha256",
        "-sign",
        "key.pem",
        "signing-input",
    ]));
    format!("{input}.{}", b64url(&sig))
}

/// The token service: answers every GET with the token and records the request lines.
fn token_service(token: String) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            if reader.read_line(&mut first).is_err() {
                continue;
            }
            let mut authorized = false;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                authorized |= line.to_ascii_lowercase().starts_with("authorization:");
            }
            log.lock()
                .unwrap()
                .push(format!("{} authorized={authorized}", first.trim()));
            let body = json!({"token": token}).to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, seen)
}

/// The distribution registry, stopped (by its own process handle) when dropped.
struct Registry {
    child: Option<Child>,
    port: u16,
    _dir: tempfile::TempDir,
    home: PathBuf,
    log: PathBuf,
}

impl Registry {
    /// Token auth against the token service on `token_port`, plain HTTP.
    fn with_token_auth(token_port: u16, dir: tempfile::TempDir) -> Registry {
        Registry::with_token_realm(&format!("http://127.0.0.1:{token_port}/token"), dir)
    }

    /// Token auth whose challenge names `realm`, plain HTTP.
    fn with_token_realm(realm: &str, dir: tempfile::TempDir) -> Registry {
        let auth = format!(
            "auth:\n  token:\n    realm: {realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {cert}\n",
            cert = dir.path().join("cert.pem").display(),
        );
        Registry::start(&auth, "", dir)
    }

    /// htpasswd (Basic) auth, over TLS with a leaf for 127.0.0.1 signed by a test CA.
    fn with_basic_auth_and_tls(dir: tempfile::TempDir) -> Registry {
        let auth = format!(
            "auth:\n  htpasswd:\n    realm: migtag-basic\n    path: {}\n",
            dir.path().join("htpasswd").display()
        );
        let tls = format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            dir.path().join("server.crt").display(),
            dir.path().join("server.key").display()
        );
        Registry::start(&auth, &tls, dir)
    }

    fn start(auth: &str, tls: &str, dir: tempfile::TempDir) -> Registry {
        let port = free_port();
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {root}\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: migtag-test\n{tls}{auth}",
            root = dir.path().join("storage").display(),
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let log = dir.path().join("registry.log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("docker-registry runs (.ci/run installs Debian's docker-registry package)");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let reg = Registry {
            child: Some(child),
            port,
            _dir: dir,
            home,
            log,
        };
        reg.wait_ready();
        reg
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.write_all(b"GET /v2/ HTTP/1.0\r\n\r\n");
                let mut answer = Vec::new();
                let _ = s.read_to_end(&mut answer);
                // Plain HTTP: the 401 challenge. TLS: Go's answer to a plain request (400).
                if answer.starts_with(b"HTTP/1.0 401")
                    || answer.starts_with(b"HTTP/1.1 401")
                    || answer.starts_with(b"HTTP/1.0 400")
                {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "the registry did not start: {}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    fn repo(&self) -> String {
        format!("127.0.0.1:{}/coder/coder", self.port)
    }

    fn skopeo(&self) -> Command {
        let mut cmd = Command::new("skopeo");
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .arg("--insecure-policy");
        cmd
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Writes `bytes` as a blob of the OCI layout; returns (digest, size).
fn blob(layout: &Path, name: &str, bytes: &[u8]) -> (String, usize) {
    let tmp = layout.join(name);
    std::fs::write(&tmp, bytes).unwrap();
    let hex = sha256_hex(&tmp);
    std::fs::rename(&tmp, layout.join("blobs/sha256").join(&hex)).unwrap();
    (format!("sha256:{hex}"), bytes.len())
}

/// An OCI image layout whose `tag` is a one-platform image index (as Coder's multi-arch
/// images are): a one-file layer, its config and manifest. Returns (layout, index digest).
fn oci_layout(dir: &Path, tag: &str) -> (PathBuf, String) {
    let layout = dir.join("oci");
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    let files = dir.join("layer-files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("coder"), format!("not really coder {tag}\n")).unwrap();
    ok(Command::new("tar")
        .arg("-cf")
        .arg(dir.join("layer.tar"))
        .arg("-C")
        .arg(&files)
        .arg("coder"));
    let layer_bytes = std::fs::read(dir.join("layer.tar")).unwrap();
    let (layer, layer_size) = blob(&layout, "layer", &layer_bytes);
    let config = json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer]}});
    let (config, config_size) = blob(&layout, "config", config.to_string().as_bytes());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": layer_size}],
    });
    let (manifest, manifest_size) = blob(&layout, "manifest", manifest.to_string().as_bytes());
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest,
            "size": manifest_size, "platform": {"architecture": "amd64", "os": "linux"}}],
    });
    let (index, index_size) = blob(&layout, "index", index.to_string().as_bytes());
    let top = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": index, "size": index_size,
        "annotations": {"org.opencontainers.image.ref.name": tag}}]});
    std::fs::write(layout.join("index.json"), top.to_string()).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    (layout, index)
}

/// Pushes the layout's `tag` with skopeo (through the token flow), digests preserved, and
/// returns the digest skopeo reads back: sha256 of the raw manifest the registry serves.
fn push(reg: &Registry, layout: &Path, tag: &str) -> String {
    push_as(reg, layout, tag, "test:test")
}

fn push_as(reg: &Registry, layout: &Path, tag: &str, creds: &str) -> String {
    ok(reg.skopeo().args([
        "copy",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        "--dest-creds",
        creds,
        &format!("oci:{}:{tag}", layout.display()),
        &format!("docker://{}:{tag}", reg.repo()),
    ]));
    let raw = ok(reg.skopeo().args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        creds,
        &format!("docker://{}:{tag}", reg.repo()),
    ]));
    let file = reg.home.join("raw-manifest");
    std::fs::write(&file, raw).unwrap();
    format!("sha256:{}", sha256_hex(&file))
}

fn kubectl_image(args: &[&str], stdin: &str) -> String {
    let out = output_with_stdin(Command::new("kubectl").args(args), stdin);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    coder_image(&serde_json::from_slice(&out.stdout).unwrap())
}

/// The image of the Deployment's `coder` container.
fn coder_image(deployment: &Value) -> String {
    let containers = &deployment["spec"]["template"]["spec"]["containers"];
    containers
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "coder")
        .unwrap()["image"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
#[cfg_attr(
    migtag_no_registry,
    ignore = "needs docker-registry, skopeo and htpasswd (apt-get install docker-registry skopeo apache2-utils, or bash .ci/test)"
)]
fn digests_come_from_a_real_registry_through_the_token_flow() {
    let dir = tempfile::tempdir().unwrap();
    let token = token(dir.path());
    let (token_port, token_requests) = token_service(token);
    let work = tempfile::tempdir().unwrap();
    let (layout, built) = oci_layout(work.path(), "v2.22.1");
    let mut reg = Registry::with_token_auth(token_port, dir);
    let pushed = push(&reg, &layout, "v2.22.1");
    assert_eq!(pushed, built, "skopeo kept the index the test built");
    let repo = reg.repo();
    let pinned = format!("{repo}:v2.22.1@{pushed}");

    // The database at 326 needs v2.22.1; the Deployment pins v2.21.1 by digest, so the patch
    // pins v2.22.1's digest as the registry serves it.
    let digest_manifest = fixture("manifests/coder-digest.json");
    let manifest_arg = digest_manifest.to_str().unwrap();
    // migtag patch for that database and Deployment, from the loopback registry's repository.
    let for_326 = |extra: &[&str]| {
        run(migtag()
            .args(["patch", "--version", "326", "--manifest", manifest_arg])
            .args(["--image-repo", &repo])
            .args(extra))
    };
    let before = token_requests.lock().unwrap().len();
    let (out, err, code) = for_326(&["--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["recommended"]["image"], pinned);
    assert_eq!(doc["registry"]["digest"], pushed);
    assert_eq!(
        doc["registry"]["media_type"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(
        doc["patch"]["command"]["argv"]
            .as_array()
            .unwrap()
            .last()
            .unwrap(),
        &json!(format!("coder={pinned}"))
    );
    // migtag went through the token service, anonymously, for pull access on the repository.
    let requests = token_requests.lock().unwrap()[before..].to_vec();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(
        requests[0].starts_with("GET /token?")
            && requests[0].contains(&format!("service={SERVICE}"))
            && requests[0].contains("scope=repository%3Acoder%2Fcoder%3Apull")
            && requests[0].ends_with("authorized=false"),
        "{requests:?}"
    );
    // Credentials scoped to this registry go to its token service: both are on loopback.
    let before = token_requests.lock().unwrap().len();
    let (_, err, code) = run(migtag()
        .args(["patch", "--version", "326", "--manifest", manifest_arg])
        .args(["--image-repo", &repo, "--format", "json"])
        .env("MIGTAG_REGISTRY_HOST", format!("127.0.0.1:{}", reg.port))
        .env("MIGTAG_REGISTRY_USERNAME", "alice")
        .env("MIGTAG_REGISTRY_PASSWORD", "s3cret pass"));
    assert_eq!(code, 0, "{err}");
    let requests = token_requests.lock().unwrap()[before..].to_vec();
    assert!(
        requests.len() == 1 && requests[0].ends_with("authorized=true"),
        "{requests:?}"
    );

    // --emit: the pinned image goes straight into kubectl and kustomize.
    let (patch, err, code) = for_326(&["--to", "strategic", "--emit"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!("{repo}:v2.22.1 exists ({pushed})")),
        "{err}"
    );
    let image = kubectl_image(
        &[
            "patch",
            "--local",
            "-f",
            manifest_arg,
            "--type",
            "strategic",
            "--patch-file",
            "/dev/stdin",
            "-o",
            "json",
        ],
        &patch,
    );
    assert_eq!(image, pinned);
    let (entry, err, code) = for_326(&["--to", "kustomize", "--emit"]);
    assert_eq!(code, 0, "{err}");
    let kdir = tempfile::tempdir().unwrap();
    std::fs::copy(&digest_manifest, kdir.path().join("coder.json")).unwrap();
    std::fs::write(
        kdir.path().join("kustomization.yaml"),
        format!("resources:\n- coder.json\n{entry}"),
    )
    .unwrap();
    let out = ok(Command::new("kubectl").arg("kustomize").arg(kdir.path()));
    let rendered: Value = serde_yaml_ng::from_slice(&out).unwrap();
    assert_eq!(coder_image(&rendered), pinned, "{entry}");

    // --pin-digest on a Deployment that runs a plain tag.
    let helm = fixture("manifests/coder-helm.yaml");
    let (out, err, code) = run(migtag().args([
        "patch",
        "--tag",
        "v2.22.1",
        "--pin-digest",
        "--manifest",
        helm.to_str().unwrap(),
        "--image-repo",
        &repo,
        "--to",
        "json-patch",
        "--emit",
    ]));
    assert_eq!(code, 0, "{err}");
    let patch: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(patch[1]["value"], pinned);

    // --verify-image: an existing tag is said to exist; a missing one is exit 11 in the
    // registry's words, with no patch.
    let (out, err, code) = run(migtag().args([
        "patch",
        "--tag",
        "v2.22.1",
        "--verify-image",
        "--image-repo",
        &repo,
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("registry:          {repo}:v2.22.1 exists")),
        "{out}"
    );
    assert!(
        out.contains(&format!("coder={repo}:v2.22.1\n")),
        "verify alone does not pin: {out}"
    );
    let (out, err, code) = run(migtag().args([
        "patch",
        "--tag",
        "v2.22.0",
        "--verify-image",
        "--image-repo",
        &repo,
    ]));
    assert_eq!(code, 11, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains(&format!("{repo}:v2.22.0 is not in the registry"))
            && err.contains("MANIFEST_UNKNOWN: manifest unknown"),
        "{err}"
    );

    // Offline: nothing is asked, and the report says what was not checked.
    let before = token_requests.lock().unwrap().len();
    let (out, err, code) = for_326(&["--offline", "--verify-image", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["recommended"]["image"], format!("{repo}:v2.22.1"));
    assert_eq!(doc["registry"]["checked"], false);
    assert!(
        doc["notes"].as_array().unwrap().iter().any(|n| n
            .as_str()
            .unwrap()
            .contains("--offline: the registry was not asked whether")),
        "{doc}"
    );
    assert_eq!(token_requests.lock().unwrap().len(), before);
    let (_, err, code) =
        run(migtag().args(["patch", "--offline", "--pin-digest", "--tag", "v2.22.1"]));
    assert_eq!(code, 2, "{err}");

    // The registry down: exit 11, saying which registry could not be reached.
    reg.stop();
    let (out, err, code) = for_326(&[]);
    assert_eq!(code, 11, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains(&format!("registry 127.0.0.1:{}: cannot reach", reg.port))
            && err.contains("Connection refused"),
        "{err}"
    );
}

#[test]
#[cfg_attr(
    migtag_no_registry,
    ignore = "needs docker-registry, skopeo and htpasswd (apt-get install docker-registry skopeo apache2-utils, or bash .ci/test)"
)]
fn basic_auth_over_tls_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    crate::common::make_ca(dir.path(), "ca");
    crate::common::make_leaf(dir.path(), "ca", "127.0.0.1", "IP:127.0.0.1");
    let htpasswd = ok(Command::new("htpasswd").args(["-Bbn", "alice", "s3cret pass"]));
    std::fs::write(dir.path().join("htpasswd"), htpasswd).unwrap();
    let ca = dir.path().join("ca.crt");
    let work = tempfile::tempdir().unwrap();
    let (layout, built) = oci_layout(work.path(), "v2.22.1");
    let reg = Registry::with_basic_auth_and_tls(dir);
    let pushed = push_as(&reg, &layout, "v2.22.1", "alice:s3cret pass");
    assert_eq!(pushed, built);
    let repo = reg.repo();
    let args = [
        "patch",
        "--tag",
        "v2.22.1",
        "--pin-digest",
        "--image-repo",
        &repo,
        "--to",
        "strategic",
        "--emit",
    ];

    let host = format!("127.0.0.1:{}", reg.port);
    // The CA is trusted through SSL_CERT_FILE, the credentials come from the environment
    // (scoped to this registry by MIGTAG_REGISTRY_HOST).
    let (out, err, code) = run(migtag()
        .args(args)
        .env("SSL_CERT_FILE", &ca)
        .env("MIGTAG_REGISTRY_HOST", &host)
        .env("MIGTAG_REGISTRY_USERNAME", "alice")
        .env("MIGTAG_REGISTRY_PASSWORD", "s3cret pass"));
    assert_eq!(code, 0, "{err}");
    let patch: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        patch["spec"]["template"]["spec"]["containers"][0]["image"],
        format!("{repo}:v2.22.1@{pushed}")
    );
    assert!(!err.contains("s3cret"), "{err}");

    // ... or from Docker's config.json.
    let docker = tempfile::tempdir().unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret pass");
    std::fs::write(
        docker.path().join("config.json"),
        json!({"auths": {format!("127.0.0.1:{}", reg.port): {"auth": auth}}}).to_string(),
    )
    .unwrap();
    let (out, err, code) = run(migtag()
        .args(args)
        .env("SSL_CERT_FILE", &ca)
        .env("DOCKER_CONFIG", docker.path()));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&pushed), "{out}");

    // No credentials: exit 11, saying what the registry asks for.
    let (out, err, code) = run(migtag().args(args).env("SSL_CERT_FILE", &ca));
    assert_eq!((out.as_str(), code), ("", 11), "{err}");
    assert!(
        err.contains("asks for a user name and password (Basic realm \"migtag-basic\")")
            && err.contains("MIGTAG_REGISTRY_USERNAME"),
        "{err}"
    );

    // Environment credentials scoped to another registry, or to none, are not sent: the
    // registry's 401 is exit 11 naming this host and what to set, never the password.
    for scope in [Some("ghcr.io"), Some("127.0.0.1:1"), None] {
        let mut cmd = migtag();
        cmd.args(args)
            .env("SSL_CERT_FILE", &ca)
            .env("MIGTAG_REGISTRY_USERNAME", "alice")
            .env("MIGTAG_REGISTRY_PASSWORD", "s3cret pass");
        if let Some(h) = scope {
            cmd.env("MIGTAG_REGISTRY_HOST", h);
        }
        let (out, err, code) = run(&mut cmd);
        assert_eq!((out.as_str(), code), ("", 11), "{scope:?}: {err}");
        let why = match scope {
            Some(h) => format!("are for MIGTAG_REGISTRY_HOST={h}, not for {host}"),
            None => "set without MIGTAG_REGISTRY_HOST".to_string(),
        };
        assert!(
            err.contains(&format!(
                "the registry {host} asks for a user name and password"
            )) && err.contains(&why)
                && err.contains(&format!("MIGTAG_REGISTRY_HOST={host}")),
            "{scope:?}: {err}"
        );
        assert!(!err.contains("s3cret"), "{err}");
    }

    // A wrong password: exit 11 in the registry's words, the password nowhere.
    let (out, err, code) = run(migtag()
        .args(args)
        .env("SSL_CERT_FILE", &ca)
        .env("MIGTAG_REGISTRY_HOST", &host)
        .env("MIGTAG_REGISTRY_USERNAME", "alice")
        .env("MIGTAG_REGISTRY_PASSWORD", "wrong-horse"));
    assert_eq!((out.as_str(), code), ("", 11), "{err}");
    assert!(err.contains("401 Unauthorized: UNAUTHORIZED"), "{err}");
    assert!(!err.contains("wrong-horse"), "{err}");

    // The CA not trusted: a certificate error (exit 11) that points at SSL_CERT_FILE, and
    // no retry over plain HTTP.
    let (out, err, code) = run(migtag()
        .args(args)
        .env("MIGTAG_REGISTRY_HOST", &host)
        .env("MIGTAG_REGISTRY_USERNAME", "alice")
        .env("MIGTAG_REGISTRY_PASSWORD", "s3cret pass"));
    assert_eq!((out.as_str(), code), ("", 11), "{err}");
    assert!(
        err.contains(&format!("cannot reach https://127.0.0.1:{}/v2/", reg.port))
            && err.to_ascii_lowercase().contains("certificate")
            && err.contains("SSL_CERT_FILE"),
        "{err}"
    );
}

/// A registry whose Bearer challenge names a plain-HTTP token service off this machine: the
/// credentials are refused there (exit 11 naming the realm), not sent.
#[test]
#[cfg_attr(
    migtag_no_registry,
    ignore = "needs docker-registry, skopeo and htpasswd (apt-get install docker-registry skopeo apache2-utils, or bash .ci/test)"
)]
fn credentials_are_not_sent_to_a_plain_http_realm_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    token(dir.path());
    // `.invalid` never resolves: were the credentials sent, the error would be "cannot reach".
    let realm = "http://migtag-realm.invalid/token";
    let reg = Registry::with_token_realm(realm, dir);
    let host = format!("127.0.0.1:{}", reg.port);
    let (out, err, code) = run(migtag()
        .args([
            "patch",
            "--tag",
            "v2.22.1",
            "--pin-digest",
            "--to",
            "strategic",
        ])
        .args(["--emit", "--image-repo", &reg.repo()])
        .env("MIGTAG_REGISTRY_HOST", &host)
        .env("MIGTAG_REGISTRY_USERNAME", "alice")
        .env("MIGTAG_REGISTRY_PASSWORD", "s3cret pass"));
    assert_eq!((out.as_str(), code), ("", 11), "{err}");
    assert!(
        err.contains(&format!(
            "refusing to send the credentials for registry {host} \
             (from MIGTAG_REGISTRY_USERNAME/MIGTAG_REGISTRY_PASSWORD) to {realm}"
        )) && err.contains("https token service"),
        "{err}"
    );
    assert!(!err.contains("s3cret") && !err.contains("alice"), "{err}");
}
