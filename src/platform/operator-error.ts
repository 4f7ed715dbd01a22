/**
 * A refusal whose message is written for the operator and says what to do: the CLI prints it as it is
 * (no "unexpected failure", no stack trace) and exits 2, as for any bad input. Each capability's input
 * errors extend it, so the CLI recognises them without loading the capability to compare classes.
 */
export class OperatorError extends Error {
  override name = 'OperatorError';
}
