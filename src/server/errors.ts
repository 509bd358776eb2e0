// How the curated door says no: every refusal is {"detail": message}; see src/http/errors.ts.
import { errorMiddleware } from '../http/errors.js';

export { logStreamError } from '../http/errors.js';

export const errorHandler = errorMiddleware((_status, message) => ({ detail: message }));
