//! P10: `GET /api/export` of 100,000 traces (10,000 with `--quick`), and of a tenth as many
//! to compare: the maia process's peak RSS (VmHWM) while it streams the export, the time and
//! the size. Each runs on a fresh `maia serve` (so the peak is that export's) against a
//! database seeded with one INSERT ... SELECT generate_series. The export is read a chunk
//! at a time and thrown away. The target: the peak does not grow with the rows (at ten times
//! the rows, less than twice the peak).

use std::time::Instant;

use super::kit::database::{database_in, psql};
use super::kit::free_port;
use super::kit::process::maia_at;
use super::{memory, verdict, Bench, Figures, MB};

/// What one export measured.
struct Exported {
    peak_rss: f64,
    idle_rss: f64,
    seconds: f64,
    bytes: u64,
}

impl Bench {
    /// P10.
    pub(super) fn export_memory(&self, figures: &mut Figures) -> anyhow::Result<()> {
        let rows = if self.quick { 10_000 } else { 100_000 };
        let small = self.export_of(rows / 10)?;
        let large = self.export_of(rows)?;
        for (count, e) in [(rows / 10, &small), (rows, &large)] {
            figures.add(
                format!(
                    "P10 export_{}k_traces peak_rss={:.1}MB idle_rss={:.1}MB time={:.2}s bytes={} report",
                    count / 1000,
                    e.peak_rss / MB,
                    e.idle_rss / MB,
                    e.seconds,
                    e.bytes
                ),
                None,
            );
        }
        let ratio = large.peak_rss / small.peak_rss;
        let flat = ratio < 2.0;
        figures.add(
            format!(
                "P10 export_peak_rss_growth ratio={ratio:.2} ({}k/{}k traces) target<2 {}",
                rows / 1000,
                rows / 10_000,
                verdict(flat)
            ),
            Some(flat),
        );
        Ok(())
    }

    /// A fresh database of `rows` traces and a fresh `maia serve` on it; its export.
    fn export_of(&self, rows: i64) -> anyhow::Result<Exported> {
        let db = self.runtime.block_on(database_in(&self.cluster));
        let migrate = maia_at(&self.bin)
            .arg("migrate")
            .env("MAIA_DATABASE__URL", &db.url)
            .output()?;
        anyhow::ensure!(migrate.status.success(), "maia migrate: {migrate:?}");
        eprintln!("bench: P10 seeding {rows} traces");
        self.runtime.block_on(async {
            psql(&db.url)
                .await
                .execute(
                    "INSERT INTO consciousness_traces \
                     (id, query, response, mode, model, status, latency_ms, created_at) \
                     SELECT gen_random_uuid(), 'bench question ' || n, \
                     repeat('a bench answer ', 20), 'fast', 'bench', 'ok', n % 1000, \
                     now() - make_interval(secs => n) FROM generate_series(1, $1::bigint) n",
                    &[&rows],
                )
                .await
        })?;
        let created = maia_at(&self.bin)
            .args(["token", "create", "--name", "export", "--scopes", "admin"])
            .env("MAIA_DATABASE__URL", &db.url)
            .output()?;
        anyhow::ensure!(created.status.success(), "maia token create: {created:?}");
        let token = String::from_utf8(created.stdout)?.trim().to_string();
        let port = free_port();
        let mut maia = self.spawn_maia(port, &db.url, &[]);
        self.wait_200(port, "/readyz")?;
        let idle_rss = memory(maia.pid(), "VmRSS")?;
        let started = Instant::now();
        let bytes = self.runtime.block_on(download(port, &token))?;
        let seconds = started.elapsed().as_secs_f64();
        let peak_rss = memory(maia.pid(), "VmHWM")?;
        self.runtime.block_on(maia.terminate(super::READY_LIMIT));
        Ok(Exported {
            peak_rss,
            idle_rss,
            seconds,
            bytes,
        })
    }
}

/// `GET /api/export`, read a chunk at a time: how many bytes.
async fn download(port: u16, token: &str) -> anyhow::Result<u64> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    let mut response = client
        .get(format!("http://127.0.0.1:{port}/api/export"))
        .bearer_auth(token)
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == reqwest::StatusCode::OK,
        "GET /api/export: {}",
        response.status()
    );
    let mut bytes = 0;
    while let Some(chunk) = response.chunk().await? {
        bytes += chunk.len() as u64;
    }
    Ok(bytes)
}
