//! Smart Turn v3 (pipecat-ai's open audio end-of-turn model, 8 MB ONNX) as a
//! [`haru_turn::TurnModel`]. ONNX Runtime is loaded from a shared library at run time
//! (`libonnxruntime.so` from the `onnxruntime` wheel), so builds need nothing but cargo.

mod mel;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;

pub use mel::LogMel;

/// The ONNX Runtime environment: one per process, loaded on first use.
static ENV: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

fn environment(lib: &Path) -> Result<&'static ort::environment::Environment, String> {
    ENV.get_or_init(|| {
        ort::init_from(lib)
            .map_err(|e| format!("cannot load ONNX Runtime from {}: {e}", lib.display()))?
            .with_name("haru")
            .build()
            .map_err(|e| format!("ONNX Runtime environment: {e}"))
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// Where the installer puts the model and the runtime.
#[derive(Debug, Clone)]
pub struct SmartTurnPaths {
    pub model: PathBuf,
    pub runtime: PathBuf,
}

impl SmartTurnPaths {
    pub const MODEL_FILE: &str = "smart-turn-v3.2-cpu.onnx";
    pub const RUNTIME_FILE: &str = "libonnxruntime.so.1.31.1";

    /// Both files in one models directory.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            model: dir.join(Self::MODEL_FILE),
            runtime: dir.join(Self::RUNTIME_FILE),
        }
    }

    pub fn exist(&self) -> bool {
        self.model.is_file() && self.runtime.is_file()
    }
}

pub struct SmartTurn {
    /// One session per worker thread: a run needs `&mut Session`.
    sessions: Vec<Mutex<Session>>,
    mel: LogMel,
    /// At most this share of one core per second goes to verdicts (~35 ms each); past it
    /// a pause is decided without one, so the model never starves the calls themselves.
    cpu_share: f64,
    spent: Mutex<(Instant, Duration)>,
}

const BUDGET_WINDOW: Duration = Duration::from_secs(1);

/// The default CPU budget: a tenth of a core (about three verdicts a second).
pub const DEFAULT_CPU_SHARE: f64 = 0.1;

impl SmartTurn {
    /// Loads the model with `threads` independent sessions (one intra-op thread each), so
    /// that several calls' pauses are judged at once without one big thread pool.
    pub fn load(paths: &SmartTurnPaths, threads: usize) -> Result<Self, String> {
        let env = environment(&paths.runtime)?;
        let sessions = (0..threads.max(1))
            .map(|_| {
                Session::builder(env)
                    .and_then(|b| {
                        b.with_optimization_level(GraphOptimizationLevel::Level3)
                            .map_err(Into::into)
                    })
                    .and_then(|b| b.with_intra_threads(1).map_err(Into::into))
                    .and_then(|b| b.with_inter_threads(1).map_err(Into::into))
                    .and_then(|mut b| b.commit_from_file(&paths.model))
                    .map(Mutex::new)
                    .map_err(|e| format!("Smart Turn model {}: {e}", paths.model.display()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            sessions,
            mel: LogMel::new(),
            cpu_share: DEFAULT_CPU_SHARE,
            spent: Mutex::new((Instant::now(), Duration::ZERO)),
        })
    }

    /// Sets the CPU budget (share of one core, e.g. 0.1); 1.0 or more is unbounded
    /// on one thread.
    pub fn with_cpu_share(mut self, share: f64) -> Self {
        self.cpu_share = share.max(0.0);
        self
    }

    /// Whether this second's budget has room for another verdict.
    fn within_budget(&self) -> bool {
        let Ok(mut spent) = self.spent.lock() else {
            return false;
        };
        if spent.0.elapsed() >= BUDGET_WINDOW {
            *spent = (Instant::now(), Duration::ZERO);
        }
        spent.1.as_secs_f64() < self.cpu_share * BUDGET_WINDOW.as_secs_f64()
    }

    fn charge(&self, d: Duration) {
        if let Ok(mut spent) = self.spent.lock() {
            spent.1 += d;
        }
    }

    fn run(&self, session: &mut Session, features: &[f32]) -> Result<f32, String> {
        let input = TensorRef::from_array_view(([1usize, mel::N_MELS, mel::FRAMES], features))
            .map_err(|e| e.to_string())?;
        let out = session
            .run(ort::inputs!["input_features" => input])
            .map_err(|e| format!("Smart Turn inference: {e}"))?;
        let (_, p) = out[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| format!("Smart Turn output: {e}"))?;
        p.first()
            .copied()
            .ok_or_else(|| "Smart Turn returned no value".to_string())
    }
}

impl haru_turn::TurnModel for SmartTurn {
    fn finished(&self, pcm_16k: &[i16]) -> Result<f32, String> {
        if !self.within_budget() {
            return Err("over its CPU budget this second".into());
        }
        let started = Instant::now();
        let features = self.mel.features(pcm_16k);
        // A free session, or none: a verdict that waited would come too late to matter.
        let result = self
            .sessions
            .iter()
            .find_map(|s| s.try_lock().ok())
            .map(|mut s| self.run(&mut s, &features))
            .unwrap_or_else(|| Err("every session busy".into()));
        self.charge(started.elapsed());
        result
    }
}
