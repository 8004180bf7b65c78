/// An audio end-of-turn model ("how it was said"): the probability that the caller has
/// finished, judged from the sound of the turn so far (16 kHz, ending at the pause).
/// Implementations are blocking and CPU-bound: call them off the async runtime.
pub trait TurnModel: Send + Sync {
    fn finished(&self, pcm_16k: &[i16]) -> Result<f32, String>;
}
