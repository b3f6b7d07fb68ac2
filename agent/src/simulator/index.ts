// The device simulator: `startSimulation` and the pieces tests and benchmarks reuse.
export { startSimulation, type DeviceCounters, type SimulatedDevice, type Simulation, type SimulationOptions, type SimulationStats } from './simulation.ts';
export { planFaults, simulatedFailure, unitHash, type FaultPlan } from './faults.ts';
export { simulatedFacts, simulatedPlatform, isWindowsDevice } from './facts.ts';
export { createMemoryExecutors, MemoryHost, versionFor } from './memory-host.ts';
export { MemoryJournal } from './memory-journal.ts';
export { SharedBlobCache } from './blob-cache.ts';
export { SimulatorCredentialFile } from './credential-file.ts';
