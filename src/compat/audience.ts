// Who hears a prompt's websocket message (protocol notes §10.4). A prompt with a client_id talks
// to that socket only. A prompt without one sends its progress, previews, interruption and
// blocked-branch errors to every socket, and everything else to nobody.

export type Audience = 'client' | 'everyone' | 'nobody';

const BROADCAST_WITHOUT_CLIENT = new Set(['progress', 'progress_state', 'execution_interrupted']);

export function audienceOf(type: string, data: Record<string, unknown> | undefined, hasClient: boolean): Audience {
  if (hasClient) return 'client';
  if (BROADCAST_WITHOUT_CLIENT.has(type)) return 'everyone';
  if (type === 'execution_error' && data?.exception_type === 'ExecutionBlocked') return 'everyone';
  return 'nobody';
}
