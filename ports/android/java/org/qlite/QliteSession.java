package org.qlite;

import java.nio.charset.StandardCharsets;

/**
 * One conversation's state (KV cache, sampler) over a {@link QliteModel}. Methods are
 * synchronized: a session serves one call at a time; use one session per thread for
 * parallel work.
 */
public final class QliteSession implements AutoCloseable {
  static {
    Qlite.load();
  }

  /** KV cache element types (qlite_kv_type). */
  public static final int KV_F32 = 0, KV_F16 = 1, KV_Q8 = 2, KV_Q4 = 3;

  /**
   * Session and sampler parameters; starts from the C library's defaults
   * (qlite_session_default_params). Setters return this for chaining.
   */
  public static final class Params {
    // Layout shared with the native side (qlite_jni_session.cc).
    static final int THREADS = 0, WINDOW = 1, SINK_TOKENS = 2, KV_TYPE = 3, MAX_BATCH = 4,
        MEMORY_BUDGET = 5, TOP_K = 6, REPEAT_LAST_N = 7, SEED = 8, ADAPTER_MEMORY = 9, N_LONGS = 10;
    static final int TEMPERATURE = 0, TOP_P = 1, MIN_P = 2, REPEAT_PENALTY = 3, N_FLOATS = 4;

    private final long[] longs = new long[N_LONGS];
    private final float[] floats = new float[N_FLOATS];

    public Params() {
      nativeDefaults(longs, floats);
    }

    /** Worker threads (Raspberry Pi 4/5: 4; on phones, the number of big cores). */
    public Params threads(int n) { longs[THREADS] = n; return this; }
    /** KV positions kept; 0 = the model's sliding window or context length. */
    public Params window(int positions) { longs[WINDOW] = positions; return this; }
    /** Attention sinks kept when the window slides; -1 = automatic. */
    public Params sinkTokens(int n) { longs[SINK_TOKENS] = n; return this; }
    /** One of KV_F32, KV_F16, KV_Q8, KV_Q4. */
    public Params kvType(int type) { longs[KV_TYPE] = type; return this; }
    /** Tokens per prefill chunk. */
    public Params maxBatch(int tokens) { longs[MAX_BATCH] = tokens; return this; }
    /** Bytes the session may reserve; 0 = no limit. */
    public Params memoryBudget(long bytes) { longs[MEMORY_BUDGET] = bytes; return this; }
    /** 0 = greedy. */
    public Params temperature(float t) { floats[TEMPERATURE] = t; return this; }
    public Params topK(int k) { longs[TOP_K] = k; return this; }
    public Params topP(float p) { floats[TOP_P] = p; return this; }
    public Params minP(float p) { floats[MIN_P] = p; return this; }
    public Params repeatPenalty(float penalty, int lastN) {
      floats[REPEAT_PENALTY] = penalty;
      longs[REPEAT_LAST_N] = lastN;
      return this;
    }
    public Params seed(long seed) { longs[SEED] = seed; return this; }
    /** Bytes reserved for LoRA-merged tensors (QliteSession.adaptersMemory); 0 = none. */
    public Params adapterMemory(long bytes) { longs[ADAPTER_MEMORY] = bytes; return this; }
    /**
     * Generation ends where the text contains one of these (matched across tokens, never
     * passed to the callback); replaces any set before.
     */
    public Params stopStrings(String... stops) {
      Qlite.requireNonNull(stops, "stops");
      byte[][] z = new byte[stops.length][];
      for (int i = 0; i < stops.length; ++i) {
        Qlite.requireNonNull(stops[i], "stop string");
        z[i] = QliteModel.utf8z(stops[i]);
      }
      stopsZ = z;
      return this;
    }
    /** Adds bias to a token's logit before every draw; Float.NEGATIVE_INFINITY bans it. */
    public Params logitBias(int token, float bias) {
      biasTokens = java.util.Arrays.copyOf(biasTokens, biasTokens.length + 1);
      biasValues = java.util.Arrays.copyOf(biasValues, biasValues.length + 1);
      biasTokens[biasTokens.length - 1] = token;
      biasValues[biasValues.length - 1] = bias;
      return this;
    }

    private byte[][] stopsZ = new byte[0][];
    private int[] biasTokens = new int[0];
    private float[] biasValues = new float[0];

    long[] longs() { return longs.clone(); }
    float[] floats() { return floats.clone(); }
    byte[][] stopsZ() { return stopsZ.clone(); }
    int[] biasTokens() { return biasTokens.clone(); }
    float[] biasValues() { return biasValues.clone(); }

    private static native void nativeDefaults(long[] longs, float[] floats);
  }

  private final QliteModel model;
  private final int vocabSize;
  private long handle;
  private boolean generating; // inside generate(): the callback must not re-enter or close

  QliteSession(QliteModel model, Params params) {
    Qlite.requireNonNull(model, "model");
    Qlite.requireNonNull(params, "params");
    this.model = model;
    this.vocabSize = model.info().vocabSize;
    long modelHandle = model.acquire();
    try {
      handle = nativeCreate(modelHandle, params.longs(), params.floats(), params.stopsZ(),
          params.biasTokens(), params.biasValues());
    } catch (RuntimeException | Error e) {
      model.release();
      throw e;
    }
  }

  public QliteModel model() {
    return model;
  }

  /** Forgets all positions and the sampler's history. */
  public synchronized void reset() {
    nativeReset(liveHandle());
  }

  /** Feeds tokens; the logits of the last one become current. */
  public synchronized void prefill(int[] tokens) {
    Qlite.requireNonNull(tokens, "tokens");
    nativePrefill(liveHandle(), tokens);
  }

  /** Feeds one token; its logits become current. */
  public synchronized void decode(int token) {
    nativeDecode(liveHandle(), token);
  }

  /** Positions fed since creation or the last reset (qlite_session_info.n_past). */
  public synchronized long nPast() {
    return nativeNPast(liveHandle());
  }

  /**
   * Brings the session to hold exactly tokens (a whole conversation), processing only what
   * it does not hold yet; returns the positions kept (qlite_session_sync).
   */
  public synchronized long sync(int[] tokens) {
    Qlite.requireNonNull(tokens, "tokens");
    return nativeSync(liveHandle(), tokens);
  }

  /** Truncates to the first nPast positions; CONTEXT where the window has evicted them. */
  public synchronized void seek(long nPast) {
    nativeSeek(liveHandle(), nPast);
  }

  /** The session's state (qlite_session_save_state), to restore with loadState. */
  public synchronized byte[] saveState() {
    return nativeSaveState(liveHandle());
  }

  /**
   * Restores a saved state; another model, other parameters (MISMATCH) or a corrupt state
   * (FORMAT) throw and leave the session unchanged.
   */
  public synchronized void loadState(byte[] state) {
    Qlite.requireNonNull(state, "state");
    nativeLoadState(liveHandle(), state);
  }

  /** The same through a file. */
  public synchronized void saveState(String path) {
    Qlite.requireNonNull(path, "path");
    nativeStateFile(liveHandle(), QliteModel.utf8z(path), true);
  }

  public synchronized void loadState(String path) {
    Qlite.requireNonNull(path, "path");
    nativeStateFile(liveHandle(), QliteModel.utf8z(path), false);
  }

  /**
   * Replaces the session's adapters (none = the base model), each with its scale (null = all
   * 1); the session must have been created with enough adapterMemory. Resets the session.
   */
  public synchronized void setAdapters(QliteAdapter[] adapters, float[] scales) {
    Qlite.requireNonNull(adapters, "adapters");
    if (scales != null && scales.length != adapters.length) {
      throw new QliteException(QliteException.INVALID_ARGUMENT, "one scale per adapter");
    }
    long[] handles = new long[adapters.length];
    for (int i = 0; i < adapters.length; ++i) {
      Qlite.requireNonNull(adapters[i], "adapter");
      handles[i] = adapters[i].liveHandle();
    }
    nativeSetAdapters(liveHandle(), handles, scales);
  }

  /** Bytes of merged tensors a session needs for these adapters (qlite_adapters_memory). */
  public static long adaptersMemory(QliteModel model, QliteAdapter... adapters) {
    Qlite.requireNonNull(model, "model");
    Qlite.requireNonNull(adapters, "adapters");
    long[] handles = new long[adapters.length];
    for (int i = 0; i < adapters.length; ++i) {
      Qlite.requireNonNull(adapters[i], "adapter");
      handles[i] = adapters[i].liveHandle();
    }
    long m = model.acquire();
    try {
      return nativeAdaptersMemory(m, handles);
    } finally {
      model.release();
    }
  }

  /** Samples the next token from the current logits. */
  public synchronized int sample() {
    return nativeSample(liveHandle());
  }

  /** A copy of the current logits (vocabSize floats). */
  public float[] logits() {
    float[] out = new float[vocabSize];
    logits(out);
    return out;
  }

  /** Copies the current logits into out, which must hold at least vocabSize floats. */
  public synchronized void logits(float[] out) {
    Qlite.requireNonNull(out, "out");
    if (out.length < vocabSize) {
      throw new QliteException(QliteException.INVALID_ARGUMENT,
          "logits array holds " + out.length + " floats, vocabulary has " + vocabSize);
    }
    nativeLogits(liveHandle(), out, vocabSize);
  }

  /**
   * Tokenizes the prompt (with BOS when the session is empty, else continuing it), prefills it and samples up to maxTokens tokens, passing
   * each one to the callback (may be null), which can stop early by returning false. An
   * exception thrown by the callback stops generation and is rethrown here.
   */
  public synchronized GenerateStats generate(String prompt, int maxTokens, boolean stopAtEos,
      TokenCallback callback) {
    Qlite.requireNonNull(prompt, "prompt");
    if (maxTokens < 0) {
      throw new QliteException(QliteException.INVALID_ARGUMENT, "maxTokens < 0");
    }
    Stream stream = new Stream(callback);
    long[] counts = new long[2];
    double[] seconds = new double[2];
    long h = liveHandle();
    int status;
    generating = true;
    try {
      status = nativeGenerate(h, QliteModel.utf8z(prompt), maxTokens, stopAtEos, stream, counts,
          seconds);
    } finally {
      generating = false;
    }
    if (stream.failure != null) {
      if (stream.failure instanceof RuntimeException) throw (RuntimeException) stream.failure;
      if (stream.failure instanceof Error) throw (Error) stream.failure;
      throw new RuntimeException(stream.failure); // a checked exception thrown sneakily
    }
    if (status == QliteException.CANCELLED && !stream.stopped) {
      throw new QliteException(status, "generation cancelled without the callback asking");
    }
    return new GenerateStats((int) counts[0], (int) counts[1], seconds[0], seconds[1],
        stream.stopped);
  }

  /** Generates without streaming and returns the text. */
  public String generate(String prompt, int maxTokens) {
    StringBuilder text = new StringBuilder();
    generate(prompt, maxTokens, true, (token, piece) -> {
      text.append(piece);
      return true;
    });
    return text.toString();
  }

  @Override
  public synchronized void close() {
    if (generating) {
      throw new QliteException(QliteException.INVALID_ARGUMENT,
          "close() called from a generate callback; return false to stop instead");
    }
    if (handle != 0) {
      nativeFree(handle);
      handle = 0;
      model.release();
    }
  }

  private long liveHandle() {
    if (handle == 0) {
      throw new QliteException(QliteException.INVALID_ARGUMENT, "session is closed");
    }
    if (generating) {
      throw new QliteException(QliteException.INVALID_ARGUMENT,
          "session used from its own generate callback");
    }
    return handle;
  }

  /**
   * Called from native code for each piece. Catches what the user's callback throws so no
   * Java exception is pending while the C library runs; generate() rethrows it.
   */
  static final class Stream {
    private final TokenCallback callback;
    boolean stopped;
    Throwable failure;

    Stream(TokenCallback callback) {
      this.callback = callback;
    }

    /** @return nonzero to stop (the C callback convention) */
    int onPiece(int token, byte[] piece) {
      if (callback == null) return 0;
      try {
        if (!callback.onToken(token, new String(piece, StandardCharsets.UTF_8))) {
          stopped = true;
          return 1;
        }
        return 0;
      } catch (Throwable t) {
        failure = t;
        return 1;
      }
    }
  }

  private static native long nativeCreate(long model, long[] longs, float[] floats, byte[][] stopsZ,
      int[] biasTokens, float[] biasValues);

  private static native long nativeNPast(long handle);

  private static native long nativeAdaptersMemory(long model, long[] adapters);

  private static native long nativeSync(long handle, int[] tokens);

  private static native void nativeSeek(long handle, long nPast);

  private static native byte[] nativeSaveState(long handle);

  private static native void nativeLoadState(long handle, byte[] state);

  private static native void nativeStateFile(long handle, byte[] pathZ, boolean save);

  private static native void nativeSetAdapters(long handle, long[] adapters, float[] scales);

  private static native void nativeFree(long handle);

  private static native void nativeReset(long handle);

  private static native void nativePrefill(long handle, int[] tokens);

  private static native void nativeDecode(long handle, int token);

  private static native int nativeSample(long handle);

  private static native void nativeLogits(long handle, float[] out, int count);

  /** @return QLITE_OK or QLITE_ERR_CANCELLED (callback stop); other errors throw. */
  private static native int nativeGenerate(long handle, byte[] promptZ, int maxTokens,
      boolean stopAtEos, Stream stream, long[] counts, double[] seconds);
}
