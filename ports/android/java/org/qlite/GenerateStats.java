package org.qlite;

/** What one {@link QliteSession#generate} call did. */
public final class GenerateStats {
  public final int promptTokens;
  public final int generatedTokens;
  public final double prefillSeconds;
  public final double decodeSeconds;
  /** True when the callback returned false. */
  public final boolean stoppedByCallback;

  GenerateStats(int promptTokens, int generatedTokens, double prefillSeconds,
      double decodeSeconds, boolean stoppedByCallback) {
    this.promptTokens = promptTokens;
    this.generatedTokens = generatedTokens;
    this.prefillSeconds = prefillSeconds;
    this.decodeSeconds = decodeSeconds;
    this.stoppedByCallback = stoppedByCallback;
  }

  /** Generated tokens per second of decoding (0 when nothing was decoded). */
  public double tokensPerSecond() {
    return decodeSeconds > 0 ? generatedTokens / decodeSeconds : 0;
  }
}
