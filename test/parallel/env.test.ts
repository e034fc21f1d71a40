import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MASTER_PORT, firstHost, worldFromEnv } from '../../src/parallel/env.js';

test('no job variables: not part of a job', () => {
  assert.equal(worldFromEnv({}), null);
  assert.equal(worldFromEnv({ RANK: '0' }), null, 'RANK alone is not a job');
  assert.equal(worldFromEnv({ SLURM_PROCID: '0' }), null, 'a SLURM step without SLURM_NTASKS is not a job');
});

test('torchrun variables', () => {
  assert.deepEqual(worldFromEnv({ RANK: '3', WORLD_SIZE: '8', LOCAL_RANK: '1', MASTER_ADDR: 'node7', MASTER_PORT: '29400' }), {
    rank: 3, worldSize: 8, localRank: 1, masterAddr: 'node7', masterPort: 29400,
  });
  assert.deepEqual(worldFromEnv({ RANK: '1', WORLD_SIZE: '2' }), {
    rank: 1, worldSize: 2, localRank: 1, masterAddr: '127.0.0.1', masterPort: DEFAULT_MASTER_PORT,
  });
});

test("patho's launcher adds the rendezvous file of a job on one host", () => {
  assert.deepEqual(worldFromEnv({ RANK: '0', WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: '29400', PATHO_STORE_FILE: '/tmp/patho-rendezvous-x/store' }), {
    rank: 0, worldSize: 2, localRank: 0, masterAddr: '127.0.0.1', masterPort: 29400, storeFile: '/tmp/patho-rendezvous-x/store',
  });
});

test('torchrun wins over SLURM when both are set (torchrun inside an allocation)', () => {
  const world = worldFromEnv({ RANK: '1', WORLD_SIZE: '2', SLURM_PROCID: '0', SLURM_NTASKS: '1', SLURM_NODELIST: 'n[1-2]' });
  assert.equal(world?.rank, 1);
  assert.equal(world?.worldSize, 2);
  assert.equal(world?.masterAddr, '127.0.0.1');
});

test('SLURM variables, with the first host of the node list as master', () => {
  assert.deepEqual(worldFromEnv({ SLURM_PROCID: '5', SLURM_NTASKS: '8', SLURM_LOCALID: '1', SLURM_NODELIST: 'gpu[03-06]' }), {
    rank: 5, worldSize: 8, localRank: 1, masterAddr: 'gpu03', masterPort: DEFAULT_MASTER_PORT,
  });
  const world = worldFromEnv({ SLURM_PROCID: '0', SLURM_NTASKS: '2', SLURM_JOB_NODELIST: 'a1,a2', MASTER_ADDR: 'login', MASTER_PORT: '1234' });
  assert.equal(world?.masterAddr, 'login', 'an explicit MASTER_ADDR wins');
  assert.equal(world?.masterPort, 1234);
  assert.equal(world?.localRank, 0);
});

test('bad values name the variable', () => {
  assert.throws(() => worldFromEnv({ RANK: 'one', WORLD_SIZE: '2' }), /RANK=one/);
  assert.throws(() => worldFromEnv({ RANK: '0', WORLD_SIZE: '1.5' }), /WORLD_SIZE=1\.5/);
  assert.throws(() => worldFromEnv({ RANK: '-1', WORLD_SIZE: '2' }), /RANK=-1/);
  assert.throws(() => worldFromEnv({ RANK: '0', WORLD_SIZE: '' }), /WORLD_SIZE=/);
  assert.throws(() => worldFromEnv({ RANK: '0x1', WORLD_SIZE: '2' }), /RANK=0x1/);
  assert.throws(() => worldFromEnv({ RANK: '0', WORLD_SIZE: '2', LOCAL_RANK: 'a' }), /LOCAL_RANK=a/);
  assert.throws(() => worldFromEnv({ SLURM_PROCID: 'x', SLURM_NTASKS: '2' }), /SLURM_PROCID=x/);
  assert.throws(() => worldFromEnv({ RANK: '2', WORLD_SIZE: '2' }), /rank 2 is outside world size 2/);
  assert.throws(() => worldFromEnv({ RANK: '0', WORLD_SIZE: '0' }), /outside world size 0/);
});

test('MASTER_PORT must be a TCP port', () => {
  assert.throws(() => worldFromEnv({ RANK: '0', WORLD_SIZE: '1', MASTER_PORT: '70000' }), /MASTER_PORT=70000/);
  assert.throws(() => worldFromEnv({ RANK: '0', WORLD_SIZE: '1', MASTER_PORT: '0' }), /MASTER_PORT=0/);
});

test('firstHost reads SLURM node lists', () => {
  assert.equal(firstHost('node1'), 'node1');
  assert.equal(firstHost('node1,node2'), 'node1');
  assert.equal(firstHost('gpu[03-05,07],cpu1'), 'gpu03');
  assert.equal(firstHost('gpu[7,3]'), 'gpu7');
  assert.equal(firstHost('rack-a-[001-004]'), 'rack-a-001');
  assert.equal(firstHost(' n[1-2] '), 'n1');
  assert.equal(firstHost('a[1-2]b[3-4]'), 'a1b3', 'several bracket groups in one name');
  assert.throws(() => firstHost(''), /SLURM node list/);
  assert.throws(() => firstHost('[1-2]'), /SLURM node list/);
});
