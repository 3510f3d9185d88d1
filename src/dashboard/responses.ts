/**
 * What every response of the dashboard carries: nothing cached (the figures are live), no
 * content sniffing, and no referrer leaking the page's URL to anything it links to.
 */
import type { ServerResponse } from 'node:http';

export const kCommonHeaders = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
} as const;

export function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { ...kCommonHeaders, 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(text);
}
