<#
.SYNOPSIS
  Configure Assigned Access so the local kiosk account boots straight into
  Microsoft Edge in public-browsing kiosk mode.
.DESCRIPTION
  Reads C:\ProgramData\Contoso\kiosk.json (deployed by the kiosk-config FileDeployment)
  and applies it through the MDM Bridge WMI provider. Runs as SYSTEM (the DeployX agent).
  Exit codes: 0 applied, 3010 applied and a reboot is needed, anything else failed.
#>
[CmdletBinding()]
param()
$ErrorActionPreference = 'Stop'

$configPath = 'C:\ProgramData\Contoso\kiosk.json'
if (-not (Test-Path $configPath)) {
    Write-Error "kiosk config $configPath not found; the kiosk-config deployment has not run yet"
    exit 1
}
$cfg = Get-Content -Raw -Path $configPath | ConvertFrom-Json

# 1. Local kiosk account with a random password nobody knows (auto-logon is handled by Assigned Access).
$account = $cfg.kioskAccount
if (-not (Get-LocalUser -Name $account -ErrorAction SilentlyContinue)) {
    Add-Type -AssemblyName System.Web
    $pw = ConvertTo-SecureString ([System.Web.Security.Membership]::GeneratePassword(32, 6)) -AsPlainText -Force
    New-LocalUser -Name $account -Password $pw -FullName 'Contoso Kiosk' `
        -Description 'Assigned Access kiosk account (managed by DeployX)' -PasswordNeverExpires | Out-Null
    Write-Output "created local user $account"
}

# 2. Edge kiosk policies.
$edgePolicy = 'HKLM:\SOFTWARE\Policies\Microsoft\Edge'
New-Item -Path $edgePolicy -Force | Out-Null
Set-ItemProperty -Path $edgePolicy -Name 'KioskDeleteDownloadsOnExit' -Value 1 -Type DWord
Set-ItemProperty -Path $edgePolicy -Name 'ClearBrowsingDataOnExit' -Value ([int][bool]$cfg.clearBrowsingDataOnExit) -Type DWord
Set-ItemProperty -Path $edgePolicy -Name 'HideFirstRunExperience' -Value 1 -Type DWord
$allow = Join-Path $edgePolicy 'URLAllowlist'
$block = Join-Path $edgePolicy 'URLBlocklist'
Remove-Item -Path $allow, $block -Recurse -Force -ErrorAction SilentlyContinue
New-Item -Path $allow -Force | Out-Null
New-Item -Path $block -Force | Out-Null
$i = 1
foreach ($url in $cfg.allowedUrls) { Set-ItemProperty -Path $allow -Name "$i" -Value $url; $i++ }
Set-ItemProperty -Path $block -Name '1' -Value '*'

# 3. Assigned Access: single-app kiosk running Edge.
$idleSeconds = [int]$cfg.idleTimeoutMinutes * 60
$edgeArgs = "--kiosk $($cfg.startUrl) --edge-kiosk-type=$($cfg.edgeKioskType) --kiosk-idle-timeout-minutes=$($cfg.idleTimeoutMinutes) --no-first-run"
$xml = @"
<?xml version="1.0" encoding="utf-8"?>
<AssignedAccessConfiguration xmlns="http://schemas.microsoft.com/AssignedAccess/2017/config"
    xmlns:v4="http://schemas.microsoft.com/AssignedAccess/2021/config">
  <Profiles>
    <Profile Id="{6f9b1b5e-2c4d-4a57-9a7b-0c1f5e3d8a21}">
      <KioskModeApp v4:ClassicAppPath="%ProgramFiles(x86)%\Microsoft\Edge\Application\msedge.exe"
          v4:ClassicAppArguments="$edgeArgs" />
    </Profile>
  </Profiles>
  <Configs>
    <Config>
      <Account>$account</Account>
      <DefaultProfile Id="{6f9b1b5e-2c4d-4a57-9a7b-0c1f5e3d8a21}"/>
    </Config>
  </Configs>
</AssignedAccessConfiguration>
"@

$ns = 'root\cimv2\mdm\dmmap'
$obj = Get-CimInstance -Namespace $ns -ClassName 'MDM_AssignedAccess'
$current = $obj.Configuration
$encoded = [System.Net.WebUtility]::HtmlEncode($xml)
if ($current -eq $encoded) {
    Write-Output 'assigned access already up to date'
    exit 0
}
$obj.Configuration = $encoded
Set-CimInstance -CimInstance $obj
Write-Output "assigned access configured for $account (idle timeout ${idleSeconds}s)"

# 4. Never sleep, restart every night.
powercfg /change monitor-timeout-ac 0
powercfg /change standby-timeout-ac 0
$restart = [datetime]::ParseExact($cfg.dailyRestart, 'HH:mm', $null)
$action = New-ScheduledTaskAction -Execute 'shutdown.exe' -Argument '/r /t 60 /c "Nightly kiosk restart"'
$trigger = New-ScheduledTaskTrigger -Daily -At $restart
Register-ScheduledTask -TaskName 'Contoso\KioskNightlyRestart' -Action $action -Trigger $trigger `
    -User 'SYSTEM' -RunLevel Highest -Force | Out-Null

# A changed Assigned Access configuration takes effect at the next sign-in.
exit 3010
