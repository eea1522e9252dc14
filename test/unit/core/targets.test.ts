import { describe, expect, it } from 'vitest';
import {
  formatTargetHosts,
  isAllowedTarget,
  isEncryptedMode,
  parseTargetHosts,
} from '../../../src/core/targets.js';

describe('RESTORE_TARGET_HOSTS', () => {
  it('reads host, host:port and bracketed or bare IPv6 entries, host names without case', () => {
    expect(parseTargetHosts(' DB1 , db2:5433,[::1]:5432, ::1 ')).toEqual([
      { host: 'db1' },
      { host: 'db2', port: 5433 },
      { host: '::1', port: 5432 },
      { host: '::1' },
    ]);
  });

  it('refuses what is not a host or host:port', () => {
    for (const list of ['', ',', 'db:0', 'db:65536', 'db:port', 'a b', 'db:5432:1']) {
      expect(parseTargetHosts(list), list).toBeUndefined();
    }
  });

  it('allows a listed host on its port, or on any port when none is given', () => {
    const allowed = parseTargetHosts('db1,db2:5433')!;
    expect(isAllowedTarget(allowed, 'DB1', 6000)).toBe(true);
    expect(isAllowedTarget(allowed, 'db2', 5433)).toBe(true);
    expect(isAllowedTarget(allowed, 'db2', 5432)).toBe(false);
    expect(isAllowedTarget(allowed, 'db3', 5433)).toBe(false);
    expect(formatTargetHosts(parseTargetHosts('db1,[::1]:5432')!)).toBe('db1, [::1]:5432');
  });
});

describe('isEncryptedMode', () => {
  it('counts require and the verify modes only', () => {
    expect(['disable', 'allow', 'prefer'].map((m) => isEncryptedMode(m as 'prefer'))).toEqual([
      false,
      false,
      false,
    ]);
    expect(['require', 'verify-ca', 'verify-full'].map((m) => isEncryptedMode(m as 'require'))).toEqual([
      true,
      true,
      true,
    ]);
  });
});
