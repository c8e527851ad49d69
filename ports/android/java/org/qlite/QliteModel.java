package org.qlite;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * An opened .qlm model: immutable weights and tokenizer, shared by any number of sessions on
 * any threads. Closing it while sessions are open is allowed: the native model is freed
 * when the last of them is closed.
 */
public final class QliteModel implements AutoCloseable {
  static {
    Qlite.load();
  }

  /** The model's shape (qlite_model_info). */
  public static final class Info {
    public final int dim, layers, heads, kvHeads, headDim, ffnDim, vocabSize, contextLength;
    public final int slidingWindow; // 0 = full attention
    public final int bosId, eosId;
    public final long weightBytes, params;
    public final boolean hasChatTemplate;

    Info(long[] v) {
      dim = (int) v[0];
      layers = (int) v[1];
      heads = (int) v[2];
      kvHeads = (int) v[3];
      headDim = (int) v[4];
      ffnDim = (int) v[5];
      vocabSize = (int) v[6];
      contextLength = (int) v[7];
      slidingWindow = (int) v[8];
      bosId = (int) v[9];
      eosId = (int) v[10];
      weightBytes = v[11];
      params = v[12];
      hasChatTemplate = v[13] != 0;
    }
  }

  static final int INFO_FIELDS = 14;

  private long handle;
  private final ByteBuffer buffer; // the bytes a memory-opened model reads in place
  private final Info info;
  private int openSessions;
  private boolean closeRequested;

  private QliteModel(long handle, ByteBuffer buffer) {
    this.handle = handle;
    this.buffer = buffer;
    long[] v = new long[INFO_FIELDS];
    try {
      nativeInfo(handle, v);
    } catch (RuntimeException | Error e) {
      nativeFree(handle);
      throw e;
    }
    this.info = new Info(v);
  }

  /** Opens a file, memory-mapped, without checksum verification. */
  public static QliteModel open(String path) {
    return open(path, false, true);
  }

  /**
   * @param verifyChecksums verify every tensor checksum now (reads the whole file)
   * @param useMmap map the file (true) or read it into memory (false)
   */
  public static QliteModel open(String path, boolean verifyChecksums, boolean useMmap) {
    return open(path, verifyChecksums, useMmap, Qlite.DEVICE_CPU, 0);
  }

  /**
   * Opens a file on a device: Qlite.DEVICE_CUDA uploads the weights to GPU deviceIndex and
   * runs the model's sessions there; throws UNSUPPORTED, with the reason, where the library
   * or the machine has no such GPU.
   */
  public static QliteModel open(String path, boolean verifyChecksums, boolean useMmap, int device, int deviceIndex) {
    Qlite.requireNonNull(path, "path");
    return new QliteModel(nativeOpen(utf8z(path), verifyChecksums, useMmap, device, deviceIndex), null);
  }

  /**
   * Opens a model held in memory, e.g. an Android asset. A direct buffer is used in place
   * (from its position to its limit) and must stay unchanged; a heap buffer is copied.
   */
  public static QliteModel open(ByteBuffer model) {
    Qlite.requireNonNull(model, "model buffer");
    ByteBuffer direct = model.slice();
    if (!direct.isDirect()) {
      direct = ByteBuffer.allocateDirect(model.remaining());
      direct.put(model.duplicate());
      direct.flip();
    }
    return new QliteModel(nativeOpenBuffer(direct, direct.remaining(), false), direct);
  }

  public Info info() {
    return info;
  }

  /** Token ids of text, with the BOS token first when addBos is set. */
  public int[] tokenize(String text, boolean addBos) {
    Qlite.requireNonNull(text, "text");
    synchronized (this) {
      return nativeTokenize(liveHandle(), text.getBytes(StandardCharsets.UTF_8), addBos);
    }
  }

  /** The raw bytes of one token's piece (may be part of a UTF-8 character). */
  public byte[] tokenBytes(int token) {
    synchronized (this) {
      return nativeTokenBytes(liveHandle(), token);
    }
  }

  /**
   * The conversation rendered with the model's chat template (qlite_chat_apply_template):
   * roles[i] / contents[i] are the messages; addGenerationPrompt opens the assistant's turn.
   */
  public String applyChatTemplate(String[] roles, String[] contents, boolean addGenerationPrompt) {
    Qlite.requireNonNull(roles, "roles");
    Qlite.requireNonNull(contents, "contents");
    if (roles.length != contents.length || roles.length == 0) {
      throw new QliteException(QliteException.INVALID_ARGUMENT, "one content per role, at least one message");
    }
    byte[][] r = new byte[roles.length][], c = new byte[roles.length][];
    for (int i = 0; i < roles.length; ++i) {
      Qlite.requireNonNull(roles[i], "role");
      Qlite.requireNonNull(contents[i], "content");
      r[i] = utf8z(roles[i]);
      c[i] = utf8z(contents[i]);
    }
    byte[] text;
    synchronized (this) {
      text = nativeApplyChatTemplate(liveHandle(), r, c, addGenerationPrompt);
    }
    return new String(text, StandardCharsets.UTF_8);
  }

  /** A new session with default parameters. */
  public QliteSession newSession() {
    return new QliteSession(this, new QliteSession.Params());
  }

  public QliteSession newSession(QliteSession.Params params) {
    return new QliteSession(this, params);
  }

  /** The memory a session with these parameters needs, as a human-readable breakdown. */
  public String estimateMemory(QliteSession.Params params) {
    Qlite.requireNonNull(params, "params");
    synchronized (this) {
      return nativeEstimateMemory(liveHandle(), params.longs(), params.floats());
    }
  }

  @Override
  public synchronized void close() {
    closeRequested = true;
    freeIfUnused();
  }

  // Sessions hold the model open: acquire when one is created, release when it closes.
  synchronized long acquire() {
    long h = liveHandle();
    ++openSessions;
    return h;
  }

  synchronized void release() {
    --openSessions;
    freeIfUnused();
  }

  private void freeIfUnused() {
    if (closeRequested && openSessions == 0 && handle != 0) {
      nativeFree(handle);
      handle = 0;
    }
  }

  private long liveHandle() {
    if (handle == 0 || closeRequested) {
      throw new QliteException(QliteException.INVALID_ARGUMENT, "model is closed");
    }
    return handle;
  }

  static byte[] utf8z(String s) {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    byte[] z = new byte[b.length + 1];
    System.arraycopy(b, 0, z, 0, b.length);
    return z;
  }

  private static native long nativeOpen(byte[] pathZ, boolean verifyChecksums, boolean useMmap, int device,
                                        int deviceIndex);

  private static native long nativeOpenBuffer(ByteBuffer direct, long size, boolean verifyChecksums);

  private static native void nativeFree(long handle);

  private static native void nativeInfo(long handle, long[] out);

  private static native int[] nativeTokenize(long handle, byte[] utf8, boolean addBos);

  private static native byte[] nativeTokenBytes(long handle, int token);

  private static native String nativeEstimateMemory(long handle, long[] longs, float[] floats);
  private static native byte[] nativeApplyChatTemplate(long handle, byte[][] roles, byte[][] contents,
      boolean addGenerationPrompt);
}
