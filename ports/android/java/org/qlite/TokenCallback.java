package org.qlite;

/** Receives generated text as it is produced. */
@FunctionalInterface
public interface TokenCallback {
  /**
   * Called once per generated token, on the thread that called generate.
   *
   * @param token the token id
   * @param piece its text (whole UTF-8 characters; may be empty while a character is split
   *     across tokens)
   * @return true to continue, false to stop generating
   */
  boolean onToken(int token, String piece);
}
