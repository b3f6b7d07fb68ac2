# DeployX task-sequence runner for WinPE (Windows PowerShell 5.1, WinPE-PowerShell component).
#
# wimboot places this file, deployx.json (server, one-time provisioning token, device, hostname)
# and winpeshl.ini in X:\Windows\System32; winpeshl.ini starts wpeinit, then this script. It
# fetches the run's task list, runs the tasks in order and reports each one to
# POST /pxe/v1/tasks/<index>/status (started, then succeeded or failed with the tail of its log).
# The first failing task stops the sequence unless it has continueOnError.
#
# Unlike the Linux installers, WinPE does the work itself: partition (diskpart script from the
# layout preset), apply-image (DISM /Apply-Image of the profile's install WIM, verified by
# SHA-256), inject-config (unattend.xml into C:\Windows\Panther), install-agent (agent files and
# start-agent.ps1 under C:\ProgramData\DeployX, enrollment token bound to the device).
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3

$settingsFile = Join-Path $PSScriptRoot 'deployx.json'
$settings = Get-Content -Raw -LiteralPath $settingsFile | ConvertFrom-Json
if ($settings.server -notmatch '^https?://[A-Za-z0-9.\-\[\]:]+$') { throw 'deployx.json: server must be scheme://host[:port]' }
if ($settings.token -notmatch '^dxp_[A-Za-z0-9_-]{20,}$') { throw 'deployx.json: token is not a provisioning token' }
$server = $settings.server
$headers = @{ Authorization = "Bearer $($settings.token)" }
$work = Join-Path $env:TEMP 'deployx'
New-Item -ItemType Directory -Force -Path $work | Out-Null
$target = 'W:'

function Send-Status([int]$Index, [string]$Status, [int]$ExitCode, [string]$Log) {
  if ($Log.Length -gt 8192) { $Log = $Log.Substring($Log.Length - 8192) }
  $body = @{ status = $Status; exitCode = $ExitCode; log = $Log } | ConvertTo-Json -Compress
  for ($try = 0; $try -lt 5; $try++) {
    try {
      Invoke-RestMethod -Method Post -Uri "$server/pxe/v1/tasks/$Index/status" -Headers $headers -ContentType 'application/json' -Body $body | Out-Null
      return
    } catch { Start-Sleep -Seconds 2 }
  }
  throw "could not report task $Index $Status"
}

function Get-Artifact([string]$Sha256, [string]$OutFile) {
  if ($Sha256 -notmatch '^[0-9a-f]{64}$') { throw "bad artifact hash $Sha256" }
  Invoke-WebRequest -UseBasicParsing -Uri "$server/pxe/v1/artifacts/sha256/$Sha256" -Headers $headers -OutFile $OutFile
  $actual = (Get-FileHash -Algorithm SHA256 -LiteralPath $OutFile).Hash.ToLowerInvariant()
  if ($actual -ne $Sha256) { throw "artifact hash $actual does not match $Sha256" }
}

function Invoke-Partition($Task) {
  $disk = if ($Task.PSObject.Properties['disk'] -and $Task.disk -match '^\d+$') { [int]$Task.disk } else { 0 }
  $script = switch ($Task.layout) {
    'windows-standard' { @("select disk $disk", 'clean', 'convert gpt', 'create partition efi size=260', 'format quick fs=fat32 label=System', 'assign letter=S', 'create partition msr size=16', 'create partition primary', 'format quick fs=ntfs label=Windows', 'assign letter=W') }
    'efi-standard' { @("select disk $disk", 'clean', 'convert gpt', 'create partition efi size=260', 'format quick fs=fat32 label=System', 'assign letter=S', 'create partition primary', 'format quick fs=ntfs label=Windows', 'assign letter=W') }
    default { @("select disk $disk", 'clean', 'create partition primary', 'format quick fs=ntfs label=Windows', 'active', 'assign letter=W') }
  }
  $file = Join-Path $work 'diskpart.txt'
  Set-Content -LiteralPath $file -Value $script -Encoding ASCII
  & diskpart.exe /s $file
  if ($LASTEXITCODE -ne 0) { throw "diskpart exited with $LASTEXITCODE" }
}

function Invoke-ApplyImage($Task) {
  if (-not $Task.PSObject.Properties['image']) { throw 'the image has no install WIM' }
  $wim = Join-Path $work 'install.wim'
  Get-Artifact $Task.image.sha256 $wim
  & dism.exe /Apply-Image /ImageFile:$wim /Index:1 /ApplyDir:$target\
  if ($LASTEXITCODE -ne 0) { throw "dism exited with $LASTEXITCODE" }
  & bcdboot.exe "$target\Windows"
  if ($LASTEXITCODE -ne 0) { throw "bcdboot exited with $LASTEXITCODE" }
}

function Invoke-InjectConfig {
  $panther = "$target\Windows\Panther"
  New-Item -ItemType Directory -Force -Path $panther | Out-Null
  Invoke-WebRequest -UseBasicParsing -Uri "$server/pxe/v1/config/$($settings.token)/unattend.xml" -OutFile "$panther\unattend.xml"
}

function Invoke-InstallAgent($Sequence) {
  if ($Sequence.enrollmentToken -notmatch '^dxe_[A-Za-z0-9_-]{20,}(\.[0-9a-f]{64})?$') { throw 'no enrollment token' }
  $dir = "$target\ProgramData\DeployX"
  New-Item -ItemType Directory -Force -Path $dir | Out-Null
  @("DEPLOYX_SERVER=$server", "DEPLOYX_ENROLLMENT_TOKEN=$($Sequence.enrollmentToken)", "DEPLOYX_DEVICE=$($Sequence.deviceId)") |
    Set-Content -LiteralPath "$dir\agent.env" -Encoding ASCII
  # Run at specialize by unattend.xml: registers and starts the agent service with the token.
  @(
    'param([string]$Server, [string]$Token, [string]$Device)',
    '$agent = Join-Path $env:ProgramFiles ''DeployX\deployx.exe''',
    'if (-not (Test-Path $agent)) { throw "the image must carry the DeployX agent at $agent" }',
    '[Environment]::SetEnvironmentVariable(''DEPLOYX_ENROLLMENT_TOKEN'', $Token, ''Machine'')',
    'New-Service -Name DeployXAgent -BinaryPathName "`"$agent`" agent --server $Server --state C:\ProgramData\DeployX\state" -StartupType Automatic | Out-Null',
    'Start-Service DeployXAgent'
  ) | Set-Content -LiteralPath "$dir\start-agent.ps1" -Encoding ASCII
}

function Invoke-RunScript($Task) {
  $file = Join-Path $work "script-$($Task.index).ps1"
  Get-Artifact $Task.script.sha256 $file
  $env:DEPLOYX_ROOT = "$target\"
  & powershell.exe -NoProfile -ExecutionPolicy Bypass -File $file
  if ($LASTEXITCODE -ne 0) { throw "script exited with $LASTEXITCODE" }
}

$sequence = Invoke-RestMethod -Uri "$server/pxe/v1/tasks" -Headers $headers
$reboot = $false
foreach ($task in $sequence.tasks) {
  $index = [int]$task.index
  Write-Host "deployx-tasks: [$index] $($task.type): $($task.name)"
  Send-Status $index 'started' 0 ''
  $log = ''
  $code = 0
  try {
    $log = (& {
      switch ($task.type) {
        'partition' { Invoke-Partition $task }
        'apply-image' { Invoke-ApplyImage $task }
        'inject-config' { Invoke-InjectConfig }
        'install-agent' { Invoke-InstallAgent $sequence }
        'run-script' { Invoke-RunScript $task }
        'reboot' { $script:reboot = $true; 'rebooting' }
        default { throw "unknown task type $($task.type)" }
      }
    } *>&1 | Out-String)
  } catch {
    $code = 1
    $log = "$log`n$($_.Exception.Message)"
  }
  if ($code -eq 0) {
    Send-Status $index 'succeeded' 0 $log
  } else {
    Send-Status $index 'failed' $code $log
    if (-not $task.continueOnError) { Write-Host "deployx-tasks: task $index failed; stopping"; exit 1 }
  }
}
Write-Host 'deployx-tasks: every task finished'
if ($reboot) { & wpeutil.exe reboot }
