import { UnicornError } from '../../src/shared/errors';

/** The UnicornError `fn` refuses with; fails the test when it throws nothing or something else. */
export function refusal(fn: () => unknown): UnicornError {
  try {
    fn();
  } catch (err) {
    if (err instanceof UnicornError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}
