// What a clientId may be. Opaque and long enough not to be guessed: in an open bridge the clientId
// is what owns a client's jobs; with API keys it is a name inside the key's tenant.
export const CLIENT_ID = /^[A-Za-z0-9_.:@-]{8,128}$/;

export function isClientId(value: unknown): value is string {
  return typeof value === 'string' && CLIENT_ID.test(value);
}
