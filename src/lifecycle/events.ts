/**
 * The lifecycle event vocabulary: names, messages and close reasons.
 * schema/lifecycle-event.schema.json is the published contract for these.
 */
export const EVENT_MESSAGES = {
  ConnectionOpened: 'Connection opened',
  RequestStarted: 'Request started',
  ResponseCompleted: 'Response completed',
  RequestSlow: 'Request slow',
  ClientDisconnected: 'Client disconnected',
  RequestAborted: 'Request aborted',
  ConnectionCompleted: 'Connection completed',
} as const;

export type LifecycleEvent = keyof typeof EVENT_MESSAGES;

export type CloseReason = 'complete' | 'timeout' | 'client_disconnect' | 'error' | 'backpressure' | 'shutdown';

export type Protocol = 'h1' | 'h2' | 'websocket';
