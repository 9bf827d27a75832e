// One driver per target kind.
import type { TargetDef } from '../config.js';
import { commandDriver } from './command.js';
import type { TargetDriver } from './driver.js';
import { httpDriver } from './http.js';
import { nginxDriver } from './nginx.js';
import { signalDriver } from './signal.js';

export function createDriver(def: TargetDef): TargetDriver {
  switch (def.kind) {
    case 'nginx':
      return nginxDriver(def);
    case 'command':
      return commandDriver(def);
    case 'http':
      return httpDriver(def);
    case 'signal':
      return signalDriver(def);
  }
}

export type { TargetDriver } from './driver.js';
