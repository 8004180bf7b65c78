//! Smart Turn v3 (pipecat-ai's open audio end-of-turn model, 8 MB ONNX) as a
//! [`haru_turn::TurnModel`]. ONNX Runtime is loaded from a shared library at run time
//! (`libonnxruntime.so` from the `onnxruntime` wheel), so builds need nothing but cargo.

mod mel;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

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
}

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
        })
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
        let features = self.mel.features(pcm_16k);
        // Take a free session, else wait for the first.
        for s in &self.sessions {
            if let Ok(mut s) = s.try_lock() {
                return self.run(&mut s, &features);
            }
        }
        let mut s = self.sessions[0]
            .lock()
            .map_err(|_| "Smart Turn session poisoned".to_string())?;
        self.run(&mut s, &features)
    }
}
