package org.qlite;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.Assume;
import org.junit.Test;

/**
 * The binding against the real stories260K model. System properties (set by
 * scripts/test.d/jni.sh): qlite.test.model (.qlm path), qlite.test.prompt_ids and
 * qlite.test.expected_ids (comma lists from refs/greedy.json), qlite.test.exact (the model
 * is f32, so greedy output must equal the reference), qlite.test.require (a missing model
 * is a failure, not a skip).
 */
public class QliteTest {
  private static final String PROMPT = "Once upon a time";

  // ---- helpers ----

  private static void skip(String why) {
    System.err.println("SKIP: " + why);
    Assume.assumeTrue(why, false);
  }

  /** Runs an open call; a runtime that lacks the function yet (UNSUPPORTED) skips the test. */
  private static QliteModel openOrSkip(java.util.function.Supplier<QliteModel> open) {
    try {
      return open.get();
    } catch (QliteException e) {
      if (e.status() == QliteException.UNSUPPORTED) skip("C library: " + e.getMessage());
      throw e;
    }
  }

  private static String modelPath() {
    String path = System.getProperty("qlite.test.model", "");
    if (path.isEmpty() || !new File(path).isFile()) {
      if (Boolean.getBoolean("qlite.test.require")) fail("model missing: '" + path + "'");
      skip("no converted model (qlite.test.model='" + path + "')");
    }
    return path;
  }

  private static QliteModel openModel() {
    String path = modelPath();
    return openOrSkip(() -> QliteModel.open(path));
  }

  private static int[] ids(String property) {
    String s = System.getProperty(property, "").trim();
    if (s.isEmpty()) return null;
    String[] parts = s.split(",");
    int[] out = new int[parts.length];
    for (int i = 0; i < parts.length; ++i) out[i] = Integer.parseInt(parts[i].trim());
    return out;
  }

  // f32 cache: the greedy reference is exact (the default f16 cache rounds keys and values).
  private static QliteSession.Params greedy() {
    return new QliteSession.Params().temperature(0f).threads(2).kvType(QliteSession.KV_F32);
  }

  private static int[] generateIds(QliteSession session, int n) {
    List<Integer> got = new ArrayList<>();
    GenerateStats stats = session.generate(PROMPT, n, false, (token, piece) -> got.add(token));
    assertEquals(n, stats.generatedTokens);
    assertEquals(n, got.size());
    assertFalse(stats.stoppedByCallback);
    return got.stream().mapToInt(Integer::intValue).toArray();
  }

  private static void expectStatus(int status, Runnable call) {
    try {
      call.run();
      fail("expected QliteException with status " + status);
    } catch (QliteException e) {
      assertEquals(e.getMessage(), status, e.status());
      assertFalse(e.getMessage().isEmpty());
    }
  }

  // ---- without a model ----

  @Test
  public void libraryLoadsAndReportsVersion() {
    assertEquals("C API major version this binding was written for", 0, Qlite.apiVersion() >>> 16);
    assertTrue(Qlite.version(), Qlite.version().startsWith("qlite"));
  }

  @Test
  public void nullArgumentsThrow() {
    expectStatus(QliteException.INVALID_ARGUMENT, () -> QliteModel.open((String) null));
    expectStatus(QliteException.INVALID_ARGUMENT, () -> QliteModel.open((ByteBuffer) null));
    expectStatus(QliteException.INVALID_ARGUMENT, () -> new QliteSession(null, greedy()));
    expectStatus(QliteException.INVALID_ARGUMENT, () -> QliteModel.open("bad\0path"));
  }

  @Test
  public void cudaWithoutAGpuThrowsUnsupported() {
    assertEquals(1, Qlite.deviceCount(Qlite.DEVICE_CPU));
    Assume.assumeTrue("a usable GPU", Qlite.deviceCount(Qlite.DEVICE_CUDA) == 0);
    String path = modelPath();
    expectStatus(QliteException.UNSUPPORTED, () -> QliteModel.open(path, false, true, Qlite.DEVICE_CUDA, 0));
    try (QliteModel m = openOrSkip(() -> QliteModel.open(path, false, true, Qlite.DEVICE_CPU, 0))) {
      assertTrue(m.info().vocabSize > 0);
    }
  }

  @Test
  public void missingFileThrowsIo() {
    QliteException e = null;
    try {
      openOrSkip(() -> QliteModel.open("/nonexistent/qlite/model.qlm")).close();
    } catch (QliteException caught) {
      e = caught;
    }
    assertNotNull("opening a missing file must throw", e);
    assertEquals(e.getMessage(), QliteException.IO, e.status());
  }

  @Test
  public void garbageBufferThrowsFormat() {
    byte[] junk = new byte[64 * 1024];
    new Random(42).nextBytes(junk);
    QliteException e = null;
    try {
      openOrSkip(() -> QliteModel.open(ByteBuffer.wrap(junk))).close();
    } catch (QliteException caught) {
      e = caught;
    }
    assertNotNull("opening random bytes must throw", e);
    assertEquals(e.getMessage(), QliteException.FORMAT, e.status());
  }

  // ---- with the model ----

  @Test
  public void infoAndTokenizer() {
    try (QliteModel model = openModel()) {
      QliteModel.Info info = model.info();
      assertEquals(512, info.vocabSize); // stories260K
      assertEquals(64, info.dim);
      assertEquals(5, info.layers);
      int[] prompt = model.tokenize(PROMPT, true);
      int[] expected = ids("qlite.test.prompt_ids");
      if (expected != null) assertArrayEquals(expected, prompt);
      assertEquals(info.bosId, prompt[0]);
      StringBuilder text = new StringBuilder();
      for (int i = 1; i < prompt.length; ++i) {
        text.append(new String(model.tokenBytes(prompt[i]), java.nio.charset.StandardCharsets.UTF_8));
      }
      assertEquals(PROMPT, text.toString().replace('\u2581', ' ').trim());
      expectStatus(QliteException.INVALID_ARGUMENT, () -> model.tokenize(null, true));
      assertFalse(model.estimateMemory(greedy()).isEmpty());
    }
  }

  @Test
  public void greedyGenerateMatchesStepwiseDecodeAndReference() {
    try (QliteModel model = openModel(); QliteSession session = model.newSession(greedy())) {
      int[] generated = generateIds(session, 32);
      int[] expected = ids("qlite.test.expected_ids");
      if (expected != null && Boolean.getBoolean("qlite.test.exact")) {
        assertArrayEquals(java.util.Arrays.copyOf(expected, 32), generated);
      }
      // The same through prefill / logits / sample / decode.
      session.reset();
      session.prefill(model.tokenize(PROMPT, true));
      float[] logits = new float[model.info().vocabSize];
      for (int i = 0; i < generated.length; ++i) {
        session.logits(logits);
        int best = 0;
        for (int v = 1; v < logits.length; ++v) if (logits[v] > logits[best]) best = v;
        int token = session.sample();
        assertEquals("step " + i, best, token);
        assertEquals("step " + i, generated[i], token);
        session.decode(token);
      }
    }
  }

  @Test
  public void callbackStopsEarly() {
    try (QliteModel model = openModel(); QliteSession session = model.newSession(greedy())) {
      int[] calls = {0};
      StringBuilder text = new StringBuilder();
      GenerateStats stats = session.generate(PROMPT, 50, false, (token, piece) -> {
        text.append(piece);
        return ++calls[0] < 5;
      });
      assertEquals(5, calls[0]);
      assertTrue(stats.stoppedByCallback);
      assertTrue(stats.generatedTokens <= 5);
      assertTrue(stats.promptTokens > 1);
      assertFalse(text.toString().isEmpty());
    }
  }

  @Test
  public void callbackExceptionIsRethrownAndSessionStaysUsable() {
    try (QliteModel model = openModel(); QliteSession session = model.newSession(greedy())) {
      IllegalStateException boom = new IllegalStateException("boom");
      int[] calls = {0};
      try {
        session.generate(PROMPT, 50, false, (token, piece) -> {
          if (++calls[0] == 3) throw boom;
          return true;
        });
        fail("callback exception was swallowed");
      } catch (IllegalStateException e) {
        assertSame(boom, e);
      }
      assertEquals(3, calls[0]);
      session.reset();
      assertEquals(8, generateIds(session, 8).length);
      // Re-entering or closing the session from its own callback is refused, not a crash.
      expectStatus(QliteException.INVALID_ARGUMENT, () -> session.generate(PROMPT, 8, false,
          (token, piece) -> {
            session.decode(token);
            return true;
          }));
      expectStatus(QliteException.INVALID_ARGUMENT, () -> session.generate(PROMPT, 8, false,
          (token, piece) -> {
            session.close();
            return true;
          }));
      session.reset();
      assertEquals(8, generateIds(session, 8).length);
    }
  }

  @Test
  public void byteBufferModelsMatchPathModel() throws IOException {
    String path = modelPath();
    byte[] bytes = Files.readAllBytes(new File(path).toPath());
    int[] fromPath;
    try (QliteModel model = openModel(); QliteSession s = model.newSession(greedy())) {
      fromPath = generateIds(s, 12);
    }
    ByteBuffer direct = ByteBuffer.allocateDirect(bytes.length);
    direct.put(bytes).flip();
    for (ByteBuffer buffer : new ByteBuffer[] {direct, ByteBuffer.wrap(bytes)}) {
      try (QliteModel model = openOrSkip(() -> QliteModel.open(buffer));
          QliteSession s = model.newSession(greedy())) {
        assertArrayEquals(fromPath, generateIds(s, 12));
      }
    }
    // A truncated file is an error, never a crash.
    QliteException e = null;
    try {
      QliteModel.open(ByteBuffer.wrap(bytes, 0, bytes.length / 2)).close();
    } catch (QliteException caught) {
      e = caught;
    }
    assertNotNull("a truncated model must not open", e);
    assertEquals(e.getMessage(), QliteException.FORMAT, e.status());
  }

  @Test
  public void badArgumentsAndClosedHandlesThrow() {
    QliteModel model = openModel();
    expectStatus(QliteException.INVALID_ARGUMENT, () -> model.newSession(greedy().threads(-1)));
    expectStatus(QliteException.INVALID_ARGUMENT, () -> model.newSession(greedy().kvType(7)));
    QliteSession session = model.newSession(greedy());
    int vocab = model.info().vocabSize;
    session.prefill(model.tokenize(PROMPT, true));
    for (int bad : new int[] {-1, vocab}) {
      try {
        session.decode(bad);
        fail("decode(" + bad + ") must throw");
      } catch (QliteException expected) {
        assertTrue(expected.status() != 0);
      }
    }
    expectStatus(QliteException.INVALID_ARGUMENT, () -> session.prefill(null));
    expectStatus(QliteException.INVALID_ARGUMENT, () -> session.generate(null, 4, false, null));
    expectStatus(QliteException.INVALID_ARGUMENT, () -> session.logits(new float[vocab - 1]));
    // Closing the model first is allowed: the session keeps it alive until it closes.
    model.close();
    expectStatus(QliteException.INVALID_ARGUMENT, () -> model.tokenize(PROMPT, true));
    expectStatus(QliteException.INVALID_ARGUMENT, () -> model.newSession(greedy()));
    session.reset();
    assertEquals(4, generateIds(session, 4).length);
    session.close();
    session.close(); // twice is fine
    expectStatus(QliteException.INVALID_ARGUMENT, () -> session.decode(1));
    model.close();
  }

  // ---- conversations, stop strings, saved state, adapters, chat templates ----

  private static String greedyText(QliteModel model, QliteSession.Params params, int n) {
    try (QliteSession session = model.newSession(params)) {
      StringBuilder text = new StringBuilder();
      session.generate(PROMPT, n, false, (token, piece) -> {
        text.append(piece);
        return true;
      });
      return text.toString();
    }
  }

  @Test
  public void stopStringsEndTheTextBeforeThem() {
    try (QliteModel model = openModel()) {
      String full = greedyText(model, greedy(), 60);
      assertTrue(full, full.length() > 50);
      String stop = full.substring(30, 42);
      assertEquals(full.substring(0, full.indexOf(stop)),
          greedyText(model, greedy().stopStrings(stop, "never\u0001"), 60));
      // A bias that bans the first greedy token changes the text.
      int first;
      try (QliteSession s = model.newSession(greedy())) {
        first = generateIds(s, 1)[0];
      }
      String banned = greedyText(model, greedy().logitBias(first, Float.NEGATIVE_INFINITY), 8);
      assertFalse(banned, full.startsWith(banned));
      expectStatus(QliteException.INVALID_ARGUMENT, () -> model.newSession(greedy().stopStrings("")));
      expectStatus(QliteException.INVALID_ARGUMENT,
          () -> model.newSession(greedy().logitBias(-1, 1f)));
    }
  }

  @Test
  public void syncReusesTheHeldPrefixAndSeekGoesBack() {
    try (QliteModel model = openModel(); QliteSession session = model.newSession(greedy())) {
      int[] a = model.tokenize(PROMPT, true);
      int[] ab = model.tokenize(PROMPT + " there was a cat", true);
      assertEquals(0, session.sync(a));
      assertEquals(a.length, session.nPast());
      long reused = session.sync(ab);
      assertTrue("reused " + reused, reused >= a.length - 1 && reused < ab.length);
      float[] synced = session.logits();
      session.seek(a.length);
      assertEquals(a.length, session.nPast());
      session.prefill(java.util.Arrays.copyOfRange(ab, a.length, ab.length));
      assertArrayEquals(synced, session.logits(), 1e-4f);
      try (QliteSession fresh = model.newSession(greedy())) {
        fresh.prefill(ab);
        assertArrayEquals(fresh.logits(), synced, 1e-4f);
      }
      expectStatus(QliteException.INVALID_ARGUMENT, () -> session.seek(ab.length + 1));
    }
  }

  @Test
  public void savedStateContinuesExactlyAndBadStatesThrow() throws IOException {
    QliteSession.Params params = new QliteSession.Params().temperature(0.9f).seed(11).threads(2);
    try (QliteModel model = openModel()) {
      int[] whole;
      byte[] state;
      int[] head = new int[10];
      try (QliteSession s = model.newSession(params)) {
        s.prefill(model.tokenize(PROMPT, true));
        for (int i = 0; i < head.length; ++i) {
          head[i] = s.sample();
          s.decode(head[i]);
        }
        state = s.saveState();
        whole = new int[15];
        for (int i = 0; i < whole.length; ++i) {
          whole[i] = s.sample();
          s.decode(whole[i]);
        }
      }
      File file = File.createTempFile("qlite_state", ".bin");
      try (QliteSession t = model.newSession(params)) {
        t.loadState(state);
        t.saveState(file.getPath());
        for (int expected : whole) {
          int got = t.sample();
          assertEquals(expected, got);
          t.decode(got);
        }
        t.loadState(file.getPath());
        assertEquals(whole[0], t.sample());
        byte[] bad = state.clone();
        bad[bad.length / 2] ^= 1;
        expectStatus(QliteException.FORMAT, () -> t.loadState(bad));
        expectStatus(QliteException.FORMAT,
            () -> t.loadState(java.util.Arrays.copyOf(state, state.length - 3)));
      } finally {
        file.delete();
      }
      try (QliteSession other = model.newSession(new QliteSession.Params().window(64))) {
        expectStatus(QliteException.MISMATCH, () -> other.loadState(state));
      }
    }
  }

  @Test
  public void adaptersChangeTheOutputAndScaleZeroIsTheBase() {
    String lora = System.getProperty("qlite.test.lora", "");
    if (lora.isEmpty() || !new File(lora).exists()) skip("no adapter (qlite.test.lora='" + lora + "')");
    try (QliteModel model = openModel(); QliteAdapter adapter = QliteAdapter.open(model, lora)) {
      long bytes = QliteSession.adaptersMemory(model, adapter);
      assertTrue(bytes > 0);
      int[] prompt = model.tokenize(PROMPT, true);
      try (QliteSession s = model.newSession(greedy().adapterMemory(bytes))) {
        s.prefill(prompt);
        float[] base = s.logits();
        s.setAdapters(new QliteAdapter[] {adapter}, new float[] {1f});
        s.prefill(prompt);
        float[] adapted = s.logits();
        assertFalse(java.util.Arrays.equals(base, adapted));
        s.setAdapters(new QliteAdapter[] {adapter}, new float[] {0f});
        s.prefill(prompt);
        assertArrayEquals(base, s.logits(), 0f);
        expectStatus(QliteException.INVALID_ARGUMENT,
            () -> s.setAdapters(new QliteAdapter[] {adapter}, new float[] {1f, 2f}));
      }
      try (QliteSession small = model.newSession(greedy())) {
        expectStatus(QliteException.OUT_OF_MEMORY,
            () -> small.setAdapters(new QliteAdapter[] {adapter}, null));
      }
    }
  }

  @Test
  public void chatTemplateRendersTheConversation() {
    try (QliteModel model = openModel()) {
      String text = model.applyChatTemplate(new String[] {"user", "assistant", "user"},
          new String[] {"Hi there", "Hello!", "How are you?"}, true);
      assertTrue(text, text.indexOf("Hi there") < text.indexOf("Hello!"));
      assertTrue(text, text.indexOf("Hello!") < text.indexOf("How are you?"));
      expectStatus(QliteException.INVALID_ARGUMENT,
          () -> model.applyChatTemplate(new String[] {"user"}, new String[0], true));
    }
  }
}
