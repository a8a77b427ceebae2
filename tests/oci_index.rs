//! oci/make-index: per-architecture docker-archives in, one deterministic multi-platform
//! OCI archive out. The test writes two tiny docker-archives by hand (tar headers,
//! config, manifest.json), one gzip-compressed as dockerTools writes them, runs the tool
//! and checks the result blob by blob, then with skopeo.
//!
//! Needs bash, jq, GNU tar, gzip and coreutils; skopeo for the last checks. When skopeo
//! or jq is missing the test says so and skips, unless MAIA_TEST_REQUIRE_SKOPEO is set
//! (CI and the Nix build set it), where a missing tool fails the test.

#[path = "kit/mod.rs"]
mod kit;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{bail, ensure, Context, Result};
use kit::Scratch;
use serde_json::Value;

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Whether the tools are here; if not, either skip (false) or fail, as the brief says.
fn tools_present() -> bool {
    let missing: Vec<&str> = ["jq", "skopeo"].into_iter().filter(|t| !have(t)).collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var_os("MAIA_TEST_REQUIRE_SKOPEO").is_some() {
        panic!("MAIA_TEST_REQUIRE_SKOPEO is set but {missing:?} not found on PATH");
    }
    eprintln!(
        "SKIPPED: oci_index needs {missing:?} on PATH (Debian: apt-get install skopeo jq); \
         set MAIA_TEST_REQUIRE_SKOPEO=1 to make this a failure"
    );
    false
}

/// skopeo with its temporary files in `scratch`: it unpacks `oci-archive:` into /var/tmp
/// whatever TMPDIR says, and the Nix build sandbox has no /var/tmp (nixpkgs'
/// `dockerTools.pullImage` passes `--tmpdir` for the same reason).
fn skopeo(scratch: &Scratch) -> Result<Command> {
    let tmp = scratch.path("skopeo-tmp");
    fs::create_dir_all(&tmp)?;
    let mut command = Command::new("skopeo");
    command.arg("--tmpdir").arg(tmp);
    Ok(command)
}

fn sha256_hex(bytes: &[u8]) -> Result<String> {
    use std::io::Write;
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("running sha256sum")?;
    child.stdin.take().unwrap().write_all(bytes)?;
    let out = child.wait_with_output()?;
    ensure!(out.status.success(), "sha256sum failed");
    Ok(String::from_utf8(out.stdout)?
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned())
}

fn gunzip(bytes: &[u8]) -> Result<Vec<u8>> {
    pipe("gzip", &["-dc"], bytes)
}

fn pipe(cmd: &str, args: &[&str], input: &[u8]) -> Result<Vec<u8>> {
    use std::io::Write;
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("running {cmd}"))?;
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output()?;
    writer.join().unwrap()?;
    ensure!(out.status.success(), "{cmd} {args:?} failed");
    Ok(out.stdout)
}

/// An uncompressed ustar archive of regular files, written field by field.
fn tar(entries: &[(&str, &[u8])]) -> Vec<u8> {
    fn octal(field: &mut [u8], value: u64) {
        let digits = field.len() - 1;
        let s = format!("{value:0digits$o}");
        field[..digits].copy_from_slice(s.as_bytes());
        field[digits] = 0;
    }
    let mut out = Vec::new();
    for (name, data) in entries {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        octal(&mut h[100..108], 0o644);
        octal(&mut h[108..116], 0);
        octal(&mut h[116..124], 0);
        octal(&mut h[124..136], data.len() as u64);
        octal(&mut h[136..148], 1);
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].fill(b' ');
        let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
        let s = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(s.as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// A docker-archive (docker save / dockerTools layout) holding one image of `arch`.
/// Returns the archive bytes and the config bytes.
fn docker_archive(arch: &str) -> Result<(Vec<u8>, Vec<u8>)> {
    let hello = format!("hello from {arch}\n");
    let layer = tar(&[("hello.txt", hello.as_bytes())]);
    let diff_id = sha256_hex(&layer)?;
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "created": "1970-01-01T00:00:01+00:00",
        "config": {
            "Entrypoint": ["/hello"],
            "Cmd": ["serve"],
            "User": "1000:1000",
            "Healthcheck": {"Test": ["CMD", "/hello", "healthcheck"], "Interval": 30_000_000_000u64},
        },
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]},
    }))?;
    let config_name = format!("{}.json", sha256_hex(&config)?);
    let layer_name = format!("{diff_id}/layer.tar");
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": config_name,
        "RepoTags": ["maia:0.1.0"],
        "Layers": [layer_name],
    }]))?;
    let archive = tar(&[
        (&config_name, &config),
        (&layer_name, &layer),
        ("manifest.json", &manifest),
    ]);
    Ok((archive, config))
}

fn make_index(out: &Path, specs: &[String]) -> Result<Output> {
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("oci/make-index");
    Command::new("bash")
        .arg(tool)
        .arg(out)
        .args(specs)
        .output()
        .context("running bash oci/make-index")
}

/// The extracted OCI layout: path -> bytes.
struct Layout(PathBuf);

impl Layout {
    fn read(&self, rel: &str) -> Result<Vec<u8>> {
        fs::read(self.0.join(rel)).with_context(|| format!("reading {rel} from the archive"))
    }
    fn json(&self, rel: &str) -> Result<Value> {
        Ok(serde_json::from_slice(&self.read(rel)?)?)
    }
    /// The blob a descriptor names, after checking its digest and size.
    fn blob(&self, descriptor: &Value) -> Result<Vec<u8>> {
        let digest = descriptor["digest"]
            .as_str()
            .context("descriptor without digest")?;
        let hex = digest
            .strip_prefix("sha256:")
            .context("digest is not sha256")?;
        let bytes = self.read(&format!("blobs/sha256/{hex}"))?;
        ensure!(
            sha256_hex(&bytes)? == hex,
            "blob {digest} does not hash to its name"
        );
        ensure!(
            descriptor["size"].as_u64() == Some(bytes.len() as u64),
            "blob {digest}: descriptor size {} but {} bytes",
            descriptor["size"],
            bytes.len()
        );
        Ok(bytes)
    }
}

struct Fixture {
    scratch: Scratch,
    specs: Vec<String>,
    configs: Vec<(String, Vec<u8>)>,
}

fn fixture(name: &str) -> Result<Fixture> {
    let scratch = Scratch::new(&format!("oci-{name}"));
    let mut specs = Vec::new();
    let mut configs = Vec::new();
    for arch in ["amd64", "arm64"] {
        let (archive, config) = docker_archive(arch)?;
        // dockerTools.buildLayeredImage writes .tar.gz; docker save writes plain .tar.
        let path = if arch == "amd64" {
            let path = scratch.path("amd64.tar.gz");
            fs::write(&path, pipe("gzip", &["-n"], &archive)?)?;
            path
        } else {
            let path = scratch.path("arm64.tar");
            fs::write(&path, archive)?;
            path
        };
        specs.push(format!("{}:{arch}", path.display()));
        configs.push((arch.to_owned(), config));
    }
    Ok(Fixture {
        scratch,
        specs,
        configs,
    })
}

fn run_ok(out: &Path, specs: &[String]) -> Result<()> {
    let o = make_index(out, specs)?;
    if !o.status.success() {
        bail!("make-index failed: {}", String::from_utf8_lossy(&o.stderr));
    }
    Ok(())
}

#[test]
fn the_index_lists_one_manifest_per_platform_and_every_digest_matches_its_blob() -> Result<()> {
    if !tools_present() {
        return Ok(());
    }
    let fx = fixture("index")?;
    let out = fx.scratch.path("index.tar");
    run_ok(&out, &fx.specs)?;

    let dir = fx.scratch.path("layout");
    fs::create_dir_all(&dir)?;
    let status = Command::new("tar")
        .arg("-xf")
        .arg(&out)
        .arg("-C")
        .arg(&dir)
        .status()?;
    ensure!(status.success(), "the output is not a readable tar");
    let layout = Layout(dir);

    assert_eq!(
        layout.json("oci-layout")?,
        serde_json::json!({"imageLayoutVersion": "1.0.0"})
    );

    let top = layout.json("index.json")?;
    assert_eq!(top["schemaVersion"], 2);
    assert_eq!(top["mediaType"], INDEX);
    let entries = top["manifests"]
        .as_array()
        .context("index.json without manifests")?;
    assert_eq!(
        entries.len(),
        1,
        "index.json must have one entry so no reference is needed"
    );
    assert_eq!(entries[0]["mediaType"], INDEX);
    assert_eq!(
        entries[0]["annotations"]["org.opencontainers.image.ref.name"], "0.1.0",
        "the tag of the docker-archives names the image"
    );

    let index: Value = serde_json::from_slice(&layout.blob(&entries[0])?)?;
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["mediaType"], INDEX);
    let manifests = index["manifests"]
        .as_array()
        .context("image index without manifests")?;
    assert_eq!(manifests.len(), 2);
    let platforms: BTreeSet<String> = manifests
        .iter()
        .map(|m| {
            assert_eq!(m["mediaType"], MANIFEST);
            assert_eq!(m["platform"]["os"], "linux");
            m["platform"]["architecture"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(platforms, BTreeSet::from(["amd64".into(), "arm64".into()]));

    for descriptor in manifests {
        check_platform(&layout, descriptor, &fx.configs)?;
    }
    check_with_skopeo(&fx.scratch, &out, &layout, &entries[0])
}

/// One platform's manifest: its config is the docker-archive's, byte for byte (same image
/// ID, Healthcheck kept), and each layer uncompresses to the config's diff_id.
fn check_platform(
    layout: &Layout,
    descriptor: &Value,
    configs: &[(String, Vec<u8>)],
) -> Result<()> {
    let arch = descriptor["platform"]["architecture"].as_str().unwrap();
    let manifest: Value = serde_json::from_slice(&layout.blob(descriptor)?)?;
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(manifest["mediaType"], MANIFEST);
    assert_eq!(manifest["config"]["mediaType"], CONFIG);

    let config = layout.blob(&manifest["config"])?;
    let original = &configs.iter().find(|(a, _)| a == arch).unwrap().1;
    assert_eq!(&config, original, "{arch}: config changed on the way");
    let config: Value = serde_json::from_slice(&config)?;
    assert_eq!(config["architecture"], arch);
    assert_eq!(config["config"]["Healthcheck"]["Test"][2], "healthcheck");

    let layers = manifest["layers"]
        .as_array()
        .context("manifest without layers")?;
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(layers.len(), diff_ids.len());
    for (layer, diff_id) in layers.iter().zip(diff_ids) {
        assert_eq!(layer["mediaType"], LAYER_GZIP);
        let uncompressed = gunzip(&layout.blob(layer)?)?;
        assert_eq!(
            format!("sha256:{}", sha256_hex(&uncompressed)?),
            diff_id.as_str().unwrap(),
            "{arch}: layer does not match the config's diff_id"
        );
    }
    Ok(())
}

/// skopeo reads the archive at `out` and sees the very index we wrote (`entry`), and
/// copies it as `nix run .#push` does.
fn check_with_skopeo(scratch: &Scratch, out: &Path, layout: &Layout, entry: &Value) -> Result<()> {
    // skopeo reads it, and sees the very index we wrote.
    let raw = skopeo(scratch)?
        .args(["inspect", "--raw"])
        .arg(format!("oci-archive:{}", out.display()))
        .output()?;
    ensure!(
        raw.status.success(),
        "skopeo inspect --raw failed: {}",
        String::from_utf8_lossy(&raw.stderr)
    );
    assert_eq!(raw.stdout, layout.blob(entry)?);

    // What `nix run .#push` does, to a local directory instead of a registry: every
    // platform is copied and no digest changes.
    let copy = scratch.path("copy");
    let pushed = skopeo(scratch)?
        .args([
            "--insecure-policy",
            "copy",
            "--all",
            "--preserve-digests",
            "-q",
        ])
        .arg(format!("oci-archive:{}", out.display()))
        .arg(format!("oci:{}:0.1.0", copy.display()))
        .output()?;
    ensure!(
        pushed.status.success(),
        "skopeo copy --all failed: {}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let copied: Value = serde_json::from_slice(&fs::read(copy.join("index.json"))?)?;
    assert_eq!(copied["manifests"][0]["digest"], entry["digest"]);
    Ok(())
}

#[test]
fn two_runs_on_the_same_archives_give_byte_identical_output() -> Result<()> {
    if !tools_present() {
        return Ok(());
    }
    let fx = fixture("repro")?;
    let (a, b) = (fx.scratch.path("a.tar"), fx.scratch.path("b.tar"));
    run_ok(&a, &fx.specs)?;
    run_ok(&b, &fx.specs)?;
    let (a, b) = (fs::read(a)?, fs::read(b)?);
    assert!(!a.is_empty());
    assert!(a == b, "two runs differ");

    // Tar headers: fixed mtime, owner 0, sorted names.
    let listing = Command::new("tar")
        .args(["--numeric-owner", "-tvf"])
        .arg(fx.scratch.path("a.tar"))
        .output()?;
    let listing = String::from_utf8(listing.stdout)?;
    let names: Vec<&str> = listing
        .lines()
        .map(|l| {
            assert!(l.contains(" 0/0 "), "not owned by 0/0: {l}");
            assert!(l.contains("1970-01-01"), "mtime not fixed: {l}");
            l.rsplit(' ').next().unwrap()
        })
        .collect();
    let blobs: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| n.starts_with("blobs/sha256/") && n.len() > "blobs/sha256/".len())
        .collect();
    let mut sorted = blobs.clone();
    sorted.sort_unstable();
    assert_eq!(blobs, sorted, "blob entries are not sorted");
    Ok(())
}

#[test]
fn an_archive_labelled_with_the_wrong_architecture_is_refused() -> Result<()> {
    if !tools_present() {
        return Ok(());
    }
    let fx = fixture("wrong-arch")?;
    let out = fx.scratch.path("out.tar");
    // The amd64 archive claimed as arm64 and the reverse.
    let swapped: Vec<String> = fx
        .specs
        .iter()
        .map(|s| {
            let (path, arch) = s.rsplit_once(':').unwrap();
            let other = if arch == "amd64" { "arm64" } else { "amd64" };
            format!("{path}:{other}")
        })
        .collect();
    let o = make_index(&out, &swapped)?;
    assert!(!o.status.success(), "a mislabelled image was accepted");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("architecture"), "unhelpful error: {stderr}");
    assert!(!out.exists(), "a failed run left an output behind");
    Ok(())
}

#[test]
fn the_same_architecture_twice_is_refused() -> Result<()> {
    if !tools_present() {
        return Ok(());
    }
    let fx = fixture("twice")?;
    let out = fx.scratch.path("out.tar");
    let o = make_index(&out, &[fx.specs[0].clone(), fx.specs[0].clone()])?;
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("twice"));
    Ok(())
}
