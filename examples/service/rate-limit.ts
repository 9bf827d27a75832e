// A fixed-window rate limiter whose limits can change while it runs.

export interface RateLimitSettings {
  readonly requests: number;
  readonly window_ms: number;
}

export class RateLimiter {
  private settings: RateLimitSettings;
  private windowStart = 0;
  private used = 0;

  constructor(settings: RateLimitSettings) {
    this.settings = settings;
  }

  get limits(): RateLimitSettings {
    return this.settings;
  }

  /** New limits start a fresh window, so a lowered limit bites at once. */
  configure(settings: RateLimitSettings): void {
    this.settings = settings;
    this.windowStart = 0;
    this.used = 0;
  }

  /** True when one more request fits in the current window. */
  take(now = Date.now()): boolean {
    if (now - this.windowStart >= this.settings.window_ms) {
      this.windowStart = now;
      this.used = 0;
    }
    if (this.used >= this.settings.requests) return false;
    this.used += 1;
    return true;
  }
}
