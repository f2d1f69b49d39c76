// A problem found while starting that the user must fix (a missing kubeconfig, ...): the CLI
// prints its message as one "error: ..." line and exits 2, like a bad flag, not a stack trace.
export class StartupError extends Error {
  override readonly name = 'StartupError';
}
