/** The app could not be loaded or is not a handler; reported as one line, exit status 2. */
export class AppLoadError extends Error {
  override readonly name = 'AppLoadError';
}
