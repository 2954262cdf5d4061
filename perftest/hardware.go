package perftest

const hardwareKey = "hardware"
